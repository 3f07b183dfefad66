"""Ingest batches: one per source (folder, archive, URL list, browser upload), with a per-entry report."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class IngestBatch(models.Model):
    class Kind(models.TextChoices):
        FOLDER = "folder", _("Folder")
        ARCHIVE = "archive", _("Archive")
        URLS = "urls", _("Urls")
        UPLOAD = "upload", _("Upload")

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        DONE = "done"
        FAILED = "failed"

    project = models.ForeignKey("labeling.Project", on_delete=models.CASCADE, related_name="ingest_batches")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    source = models.TextField(help_text="Folder path, archive path, URL-list path or upload folder.")
    default_category = models.ForeignKey("labeling.Category", null=True, blank=True, on_delete=models.SET_NULL)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    total = models.PositiveIntegerField(default=0)
    processed = models.PositiveIntegerField(default=0)
    ingested = models.PositiveIntegerField(default=0)
    duplicates = models.PositiveIntegerField(default=0)
    near_duplicates = models.PositiveIntegerField(default=0)
    rejected = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "ingest batches"
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"batch {self.pk} ({self.kind})"


class IngestEntry(models.Model):
    """One input of a batch (a file, an archive member, a URL) and what became of it.

    The (batch, key_hash) constraint makes a resumed batch skip what it already did.
    """

    class Status(models.TextChoices):
        PENDING = "pending"
        INGESTED = "ingested"
        DUPLICATE = "duplicate"
        NEAR_DUPLICATE = "near_duplicate"
        REJECTED = "rejected"

    batch = models.ForeignKey(IngestBatch, on_delete=models.CASCADE, related_name="entries")
    key = models.TextField()
    key_hash = models.CharField(max_length=64)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    reason_code = models.CharField(max_length=64, blank=True)
    message = models.TextField(blank=True)
    image = models.ForeignKey("labeling.Image", null=True, blank=True, on_delete=models.SET_NULL)
    category = models.ForeignKey("labeling.Category", null=True, blank=True, on_delete=models.SET_NULL)
    # Runs that took this entry up and did not decide it (a storage error, a killed worker): after
    # INGEST_MAX_ATTEMPTS the entry is rejected `too_many_attempts` instead of being retried forever.
    attempts = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "ingest entries"
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["batch", "key_hash"], name="ingest_entry_unique_key")]
        indexes = [models.Index(fields=["batch", "status"])]

    def __str__(self) -> str:
        return self.key[:80]
