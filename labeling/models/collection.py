"""Candidate collection from image search (runs, their queries, every candidate with its provenance) and images
contributed by volunteers and researchers. Written only by labeling.services.collection."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class CollectionRun(models.Model):
    """One `collect` over a project's categories: queries x sources -> candidates -> one URL ingest batch."""

    class Status(models.TextChoices):
        QUEUED = "queued"
        SEARCHING = "searching"
        INGESTING = "ingesting"
        DONE = "done"
        FAILED = "failed"

    project = models.ForeignKey("labeling.Project", on_delete=models.CASCADE, related_name="collection_runs")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    sources = models.JSONField(default=list)
    per_category = models.PositiveIntegerField(default=100)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    batch = models.OneToOneField(
        "labeling.IngestBatch", null=True, blank=True, on_delete=models.SET_NULL, related_name="collection_run"
    )
    queries_total = models.PositiveIntegerField(default=0)
    queries_done = models.PositiveIntegerField(default=0)
    candidates = models.PositiveIntegerField(default=0)
    unique_candidates = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"collection run {self.pk}"


class CollectionQuery(models.Model):
    """One query text sent to one source for one category, with what it found."""

    class Kind(models.TextChoices):
        NAME = "name"
        SYNONYM = "synonym"
        PARENT = "parent"  # a synonym with the parent's head word appended ("husky dog")
        TRANSLATION = "translation"

    class Status(models.TextChoices):
        PENDING = "pending"
        DONE = "done"
        FAILED = "failed"

    run = models.ForeignKey(CollectionRun, on_delete=models.CASCADE, related_name="queries")
    category = models.ForeignKey("labeling.Category", on_delete=models.CASCADE, related_name="collection_queries")
    source = models.CharField(max_length=32)
    text = models.CharField(max_length=300)
    language = models.CharField(max_length=16, default="en")
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.NAME)
    position = models.PositiveIntegerField(default=0)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    error = models.TextField(blank=True)

    class Meta:
        verbose_name_plural = "collection queries"
        ordering = ["run_id", "position"]
        constraints = [
            models.UniqueConstraint(fields=["run", "category", "source", "text"], name="collection_query_unique")
        ]

    def __str__(self) -> str:
        return f"{self.source}: {self.text}"


class CollectionCandidate(models.Model):
    """One search result: provenance (source, query, rank, page, author, licence) and what became of it."""

    class Outcome(models.TextChoices):
        PENDING = "pending"
        INGESTED = "ingested"
        DUPLICATE = "duplicate"  # the same URL earlier in the run, or bytes already in the project
        LICENSE_REFUSED = "license_refused"  # a licence the project does not allow: never fetched
        REJECTED = "rejected"  # fetch or validation refused it (the ingest entry says why)

    query = models.ForeignKey(CollectionQuery, on_delete=models.CASCADE, related_name="candidates")
    rank = models.PositiveIntegerField()
    url = models.TextField()
    page_url = models.TextField(blank=True)
    title = models.CharField(max_length=300, blank=True)
    author = models.CharField(max_length=300, blank=True)
    license = models.CharField(max_length=32, blank=True)  # normalised code: cc0, pdm, by, by-sa, ...
    license_url = models.TextField(blank=True)
    entry_key_hash = models.CharField(max_length=64, blank=True)  # its IngestEntry in the run's batch
    first = models.BooleanField(default=False)  # the first candidate of the run with this URL and category
    outcome = models.CharField(max_length=16, choices=Outcome.choices, default=Outcome.PENDING)
    reason_code = models.CharField(max_length=64, blank=True)
    image = models.ForeignKey("labeling.Image", null=True, blank=True, on_delete=models.SET_NULL)

    class Meta:
        ordering = ["query_id", "rank"]
        constraints = [models.UniqueConstraint(fields=["query", "rank"], name="collection_candidate_unique_rank")]
        indexes = [models.Index(fields=["entry_key_hash"])]

    def __str__(self) -> str:
        return self.url[:80]


class Contribution(models.Model):
    """Images a volunteer or researcher submitted to a project, under its licence, through the normal ingest."""

    class Status(models.TextChoices):
        PENDING = "pending"  # ingested and being verified like any candidate; awaiting moderation
        APPROVED = "approved"
        REJECTED = "rejected"  # its items are excluded from new dataset versions

    project = models.ForeignKey("labeling.Project", on_delete=models.CASCADE, related_name="contributions")
    contributor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL)
    credit = models.CharField(max_length=200)
    license = models.CharField(max_length=100)
    consent = models.BooleanField(default=False)
    category = models.ForeignKey("labeling.Category", null=True, blank=True, on_delete=models.SET_NULL)
    batch = models.OneToOneField(
        "labeling.IngestBatch", null=True, blank=True, on_delete=models.SET_NULL, related_name="contribution"
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    moderated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    moderated_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.CheckConstraint(condition=models.Q(consent=True), name="contribution_needs_consent")]

    def __str__(self) -> str:
        return f"contribution {self.pk} by {self.credit}"
