"""The live quality loop's own state (design: labeling/services/quality/live.md): per-annotator statistics updated
online with each batch of answers, and a blocked volunteer's note asking a reviewer to look again."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class AnnotatorLiveStats(models.Model):
    """What the online rules know of one annotator in one project, counted at each batch (quality/triggers.py)."""

    project = models.ForeignKey("labeling.Project", on_delete=models.CASCADE, related_name="annotator_live_stats")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="annotator_live_stats")
    answers = models.PositiveIntegerField(default=0)
    # A decision is what a person decides at once: one answer, or one whole verify grid.
    decisions = models.PositiveIntegerField(default=0)
    fast_decisions = models.PositiveIntegerField(default=0)  # faster than a person can physically decide
    # Votes compared with a known answer: gold, or the current consensus of other voters (agreed = the same).
    compared = models.PositiveIntegerField(default=0)
    agreed = models.PositiveIntegerField(default=0)
    gold_compared = models.PositiveIntegerField(default=0)
    gold_agreed = models.PositiveIntegerField(default=0)
    # Constant-answer pattern: answers equal to the annotator's previous answer (a constant answerer repeats
    # ~100 %, a random one 1/K), and their last answer.
    repeats = models.PositiveIntegerField(default=0)
    last_label = models.IntegerField(null=True, blank=True)
    # Verify grids: how often the answer at a grid position equals the answer of the first tile (position pattern).
    same_as_first = models.PositiveIntegerField(default=0)
    grid_tiles = models.PositiveIntegerField(default=0)
    # Boxes: the summed IoU of the annotator's boxes with the current consensus, over `compared` items.
    iou_sum = models.FloatField(default=0.0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "annotator live stats"
        constraints = [models.UniqueConstraint(fields=["project", "user"], name="annotator_live_stats_unique")]

    def __str__(self) -> str:
        return f"{self.user_id}@{self.project_id}: {self.agreed}/{self.compared}"


class AnnotatorAppeal(models.Model):
    """A blocked volunteer's note to the project's reviewers ("please look again"); one open note per person."""

    project = models.ForeignKey("labeling.Project", on_delete=models.CASCADE, related_name="annotator_appeals")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="annotator_appeals")
    text = models.TextField(max_length=2000)
    created_at = models.DateTimeField(auto_now_add=True)
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["project", "user"], condition=models.Q(resolved_at__isnull=True), name="annotator_appeal_open"
            )
        ]

    def __str__(self) -> str:
        return f"appeal {self.user_id}@{self.project_id}"
