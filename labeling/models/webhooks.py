"""Project webhooks: HTTPS endpoints told about finished work, and the log of every delivery."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class WebhookEvent(models.TextChoices):
    """The value is the wire name (payloads, subscriptions, the API); the label is for people, translated."""

    BATCH_FINISHED = "batch.finished", _("ingest batch finished (done or failed)")
    VERSION_CREATED = "dataset_version.created", _("dataset version created")
    EXPORT_READY = "export.ready", _("export ready (done or failed)")
    RUN_FINISHED = "training_run.finished", _("training run finished (succeeded, failed or cancelled)")
    PING = "ping", _("test event")


def event_label(value: str) -> str:
    """The translated label of an event's wire name; the name itself for one this version does not know."""
    try:
        return str(WebhookEvent(value).label)
    except ValueError:
        return value


class WebhookEndpoint(models.Model):
    project = models.ForeignKey("labeling.Project", on_delete=models.CASCADE, related_name="webhooks")
    url = models.URLField(max_length=500)
    # The HMAC key. Shown once, in the answer that creates the endpoint; needed in clear to sign each body.
    secret = models.CharField(max_length=128)
    events = models.JSONField(default=list, blank=True, help_text="Subscribed events; empty = all.")
    active = models.BooleanField(default=True, db_default=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"webhook {self.pk} -> {self.url}"

    @property
    def event_labels(self) -> list[str]:
        return [event_label(e) for e in self.events or []]


class WebhookDelivery(models.Model):
    """One event for one endpoint. Every delivery ends delivered or failed (with its reason)."""

    class Status(models.TextChoices):
        PENDING = "pending"  # enqueued, first attempt not made yet
        RETRYING = "retrying"  # an attempt failed; next_retry_at says when the next one runs
        DELIVERED = "delivered"
        FAILED = "failed"

    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries")
    event = models.CharField(max_length=64)
    payload = models.JSONField(default=dict)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    next_retry_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "webhook deliveries"
        ordering = ["-id"]
        indexes = [models.Index(fields=["endpoint", "-id"], name="webhook_delivery_log_idx")]

    def __str__(self) -> str:
        return f"delivery {self.pk} ({self.event}, {self.status})"

    @property
    def event_label(self) -> str:
        return event_label(self.event)
