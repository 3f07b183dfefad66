"""Webhook reads, scoped to a researcher's own projects (anything else is a 404)."""

from __future__ import annotations

from django.db.models import QuerySet
from django.http import Http404

from labeling.models import Project, WebhookDelivery, WebhookEndpoint


def webhooks_for_project(project: Project) -> QuerySet[WebhookEndpoint]:
    return WebhookEndpoint.objects.filter(project=project).order_by("id")


def webhook_for_project(project: Project, pk: int) -> WebhookEndpoint:
    endpoint = webhooks_for_project(project).filter(pk=pk).first()
    if endpoint is None:
        raise Http404("No such webhook.")
    return endpoint


def webhook_deliveries(project: Project, *, endpoint: WebhookEndpoint | None = None, limit: int = 50) -> list:
    """The delivery log, newest first (one query, endpoint joined)."""
    qs = WebhookDelivery.objects.filter(endpoint__project=project).select_related("endpoint")
    if endpoint is not None:
        qs = qs.filter(endpoint=endpoint)
    return list(qs.order_by("-id")[:limit])
