"""Content-addressed images and their provenance."""

from __future__ import annotations

from django.db import models


class Image(models.Model):
    """One decoded, validated image of a project, addressed by the SHA-256 of its bytes.

    The *file* is content-addressed and stored once for every project (`images/ab/cd/<sha>.<ext>`); the *row*
    is per project (`project`, unique with `sha256`), so a project's near-duplicate clusters (`canonical`)
    are its own, and ingesting bytes that another project holds creates a fresh row in this one: nothing
    about another project's images (their ids, their clusters) is revealed. Rows without a project are
    older global ones (before per-project rows) or test fixtures; their sha256 stays unique among them.
    """

    project = models.ForeignKey(
        "labeling.Project", null=True, blank=True, on_delete=models.SET_NULL, related_name="images"
    )
    sha256 = models.CharField(max_length=64)
    file = models.FileField(max_length=255)
    thumbnail = models.FileField(max_length=255, blank=True)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    format = models.CharField(max_length=16)
    mode = models.CharField(max_length=16)
    size_bytes = models.PositiveBigIntegerField()
    # 64-bit perceptual hash stored as a signed bigint (two's complement of the unsigned value).
    phash = models.BigIntegerField(null=True, blank=True, db_index=True)
    # Near-duplicate cluster: points at the cluster's canonical image; null for a canonical image.
    canonical = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="near_duplicates"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["project", "sha256"], name="image_unique_sha_per_project"),
            models.UniqueConstraint(
                fields=["sha256"], condition=models.Q(project__isnull=True), name="image_unique_sha_global"
            ),
        ]
        indexes = [models.Index(fields=["sha256"], name="image_sha256_idx")]

    def __str__(self) -> str:
        return self.sha256[:12]

    @property
    def cluster_id(self) -> int:
        return self.canonical_id or self.id


class ImageSource(models.Model):
    """Provenance of an image inside a project: where it came from and what it was crawled for."""

    project = models.ForeignKey("labeling.Project", on_delete=models.CASCADE, related_name="image_sources")
    image = models.ForeignKey(Image, on_delete=models.CASCADE, related_name="sources")
    batch = models.ForeignKey("labeling.IngestBatch", null=True, blank=True, on_delete=models.SET_NULL)
    source_uri = models.TextField(help_text="URL or path relative to the ingested folder/archive.")
    query = models.CharField(max_length=500, blank=True)
    candidate_category = models.ForeignKey("labeling.Category", null=True, blank=True, on_delete=models.SET_NULL)
    license = models.CharField(max_length=200, blank=True)
    attribution = models.CharField(max_length=500, blank=True)
    ingested_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["project", "image"])]

    def __str__(self) -> str:
        return self.source_uri[:80]
