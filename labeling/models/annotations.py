"""Answers from volunteers."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models


class Annotation(models.Model):
    item = models.ForeignKey("labeling.Item", on_delete=models.CASCADE, related_name="annotations")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="annotations")
    # Client-generated: a retried POST with the same id is stored once.
    submission_id = models.UUIDField(default=uuid.uuid4, unique=True)
    # Integer label (see Item); null for `boxes`.
    label = models.IntegerField(null=True, blank=True)
    answer = models.JSONField(default=dict, blank=True)
    time_spent_ms = models.PositiveIntegerField(default=0)
    client_info = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["item", "user"], name="annotation_one_per_user_item")]
        indexes = [models.Index(fields=["user", "created_at"])]

    def __str__(self) -> str:
        return f"annotation {self.pk} on item {self.item_id}"
