"""Dataset versions (immutable snapshots of a project's consensus) and their exports."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models


class DatasetVersion(models.Model):
    """An immutable snapshot: the filters and split used, the rows (DatasetVersionItem), a content hash,
    statistics and a dataset card. Written once by `dataset_version_create`; never updated."""

    project = models.ForeignKey("labeling.Project", on_delete=models.CASCADE, related_name="dataset_versions")
    number = models.PositiveIntegerField(help_text="1, 2, 3 ... per project.")
    name = models.CharField(max_length=200, blank=True)
    filters = models.JSONField(default=dict, blank=True)
    split_train = models.FloatField(default=0.8)
    split_val = models.FloatField(default=0.1)
    split_test = models.FloatField(default=0.1)
    seed = models.IntegerField(default=0)
    # Class order of this version: [{"index": 0, "category_id": 12, "name": "cat"}, ...].
    classes = models.JSONField(default=list, blank=True)
    items_count = models.PositiveIntegerField(default=0)
    content_hash = models.CharField(max_length=64)
    stats = models.JSONField(default=dict, blank=True)
    card = models.TextField(blank=True, help_text="Dataset card (markdown).")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["project_id", "-number"]
        constraints = [models.UniqueConstraint(fields=["project", "number"], name="dataset_version_unique_number")]

    def __str__(self) -> str:
        return f"{self.project_id} v{self.number}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise ValueError("A dataset version is immutable once created.")
        super().save(*args, **kwargs)

    @property
    def split_fractions(self) -> tuple[float, float, float]:
        return (self.split_train, self.split_val, self.split_test)


class DatasetVersionItem(models.Model):
    """One image of a version with its label and the evidence behind it, copied at creation time."""

    class Split(models.TextChoices):
        TRAIN = "train"
        VAL = "val"
        TEST = "test"

    version = models.ForeignKey(DatasetVersion, on_delete=models.CASCADE, related_name="rows")
    # PROTECT: deleting an image would silently change a published version.
    image = models.ForeignKey("labeling.Image", on_delete=models.PROTECT, related_name="dataset_rows")
    image_sha256 = models.CharField(max_length=64)
    cluster_id = models.BigIntegerField(help_text="Near-duplicate cluster (canonical image id).")
    # PROTECT: a category a published version names cannot be deleted (category_delete says so).
    category = models.ForeignKey("labeling.Category", null=True, blank=True, on_delete=models.PROTECT)
    class_index = models.IntegerField(help_text="Index into version.classes; -1 for none.")
    label_name = models.CharField(max_length=200, blank=True)
    split = models.CharField(max_length=8, choices=Split.choices)
    posterior = models.FloatField(null=True, blank=True)
    votes = models.JSONField(default=dict, blank=True)
    n_votes = models.PositiveIntegerField(default=0)
    soft_label = models.JSONField(default=dict, blank=True)
    annotators = models.JSONField(default=list, blank=True, help_text="Per-project pseudonyms, never usernames.")
    boxes = models.JSONField(default=list, blank=True)
    item_ids = models.JSONField(default=list, blank=True)
    is_gold = models.BooleanField(default=False)
    source_uri = models.TextField(blank=True)
    license = models.CharField(max_length=200, blank=True)
    attribution = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["version", "image"], name="dataset_row_unique_image")]
        indexes = [models.Index(fields=["version", "split", "class_index"], name="dataset_row_split_idx")]

    def __str__(self) -> str:
        return f"{self.version_id}:{self.image_id}"


class ProjectClass(models.Model):
    """The project's append-only class index: a category gets the next free index the first time a version
    holds it, and keeps it in every later version (a model trained on v1 reads v2 the same way). Rows are
    never renumbered or deleted; a category that is gone leaves its slot (category null, name kept)."""

    project = models.ForeignKey("labeling.Project", on_delete=models.CASCADE, related_name="class_indices")
    index = models.PositiveIntegerField()
    category = models.ForeignKey("labeling.Category", null=True, blank=True, on_delete=models.PROTECT)
    name = models.CharField(max_length=200)
    wnid = models.CharField(max_length=32, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "project classes"
        ordering = ["project_id", "index"]
        constraints = [
            models.UniqueConstraint(fields=["project", "index"], name="project_class_unique_index"),
            models.UniqueConstraint(fields=["project", "category"], name="project_class_unique_category"),
        ]

    def __str__(self) -> str:
        return f"{self.project_id}:{self.index} {self.name}"


class DatasetVersionVote(models.Model):
    """A vote behind a version's rows, copied when the version is created: the `raw_votes` export reads
    these, so deleting or editing live votes, items or users never changes a published version."""

    # No index of its own: dataset_vote_order_idx leads with it (a version of a million items copies ~5M votes,
    # and every index is one more write per vote).
    version = models.ForeignKey(DatasetVersion, on_delete=models.CASCADE, related_name="votes", db_index=False)
    vote_id = models.BigIntegerField()
    item_id = models.BigIntegerField()
    image_id = models.BigIntegerField()
    category_name = models.CharField(max_length=200, blank=True)
    annotator = models.CharField(max_length=32, help_text="Per-project pseudonym, never a username.")
    label = models.IntegerField(null=True, blank=True)
    answer = models.JSONField(default=dict, blank=True)
    time_spent_ms = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["version_id", "item_id", "vote_id"]
        indexes = [models.Index(fields=["version", "item_id", "vote_id"], name="dataset_vote_order_idx")]

    def __str__(self) -> str:
        return f"{self.version_id}:{self.vote_id}"


class DatasetExport(models.Model):
    class Format(models.TextChoices):
        IMAGEFOLDER = "imagefolder"
        CSV = "csv"
        JSONL = "jsonl"
        COCO = "coco"
        WEBDATASET = "webdataset"
        RAW_VOTES = "raw_votes"
        YOLO = "yolo"  # boxes projects
        VOC = "voc"  # boxes projects

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        DONE = "done"
        FAILED = "failed"

    version = models.ForeignKey(DatasetVersion, on_delete=models.CASCADE, related_name="exports")
    format = models.CharField(max_length=16, choices=Format.choices)
    options = models.JSONField(default=dict, blank=True, help_text='Format options, e.g. {"shard_mb": 64}.')
    options_key = models.CharField(
        max_length=200, null=True, blank=True, help_text="The canonical options (sorted JSON): one live export each."
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    progress = models.FloatField(default=0.0)
    file = models.FileField(max_length=255, blank=True)
    size = models.PositiveBigIntegerField(default=0)
    items_count = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["version", "format", "status"], name="dataset_export_lookup_idx")]
        constraints = [
            # One queued, running or done export per version, format and canonical options: a request for the
            # same export gets the existing one, even when two arrive at once.
            models.UniqueConstraint(
                fields=["version", "format", "options_key"],
                condition=models.Q(status__in=["queued", "running", "done"]),
                name="dataset_export_one_live_per_options",
            )
        ]

    def __str__(self) -> str:
        return f"export {self.pk} ({self.format}, {self.status})"
