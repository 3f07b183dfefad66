"""Quality control: annotator scores and their status log, per-category calibration, the annotator-model
snapshot used by online updates, and review actions. Written only by labeling.services.quality."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class AnnotatorScore(models.Model):
    """One annotator in one project: what we know about their reliability, and whether they may label."""

    class Status(models.TextChoices):
        NEW = "new"  # not enough evidence yet (prior accuracy is used for them)
        ACTIVE = "active"
        PROBATION = "probation"  # suspicious: votes down-weighted, watched
        BLOCKED = "blocked"  # votes excluded, no more work

    project = models.ForeignKey("labeling.Project", on_delete=models.CASCADE, related_name="annotator_scores")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="annotator_scores")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.NEW)
    # An admin/reviewer decision: automatic rules no longer change the status.
    status_locked = models.BooleanField(default=False)
    gold_seen = models.PositiveIntegerField(default=0)
    gold_correct = models.PositiveIntegerField(default=0)
    gold_accuracy = models.FloatField(null=True, blank=True)
    gold_wilson_low = models.FloatField(null=True, blank=True)
    gold_wilson_high = models.FloatField(null=True, blank=True)
    # The aggregation model's estimate of the annotator's accuracy (on items drawn from the class priors), its
    # 95 % interval, and the labels it rests on (votes on items someone else also answered, or gold).
    ds_accuracy = models.FloatField(null=True, blank=True)
    ds_accuracy_low = models.FloatField(null=True, blank=True)
    ds_accuracy_high = models.FloatField(null=True, blank=True)
    evidence = models.PositiveIntegerField(default=0, db_default=0)
    confusion = models.JSONField(null=True, blank=True)  # K x K, rows = true class (snapshot order)
    agreement = models.FloatField(null=True, blank=True)  # share of votes equal to the consensus label
    median_time_ms = models.FloatField(null=True, blank=True)
    volume = models.PositiveIntegerField(default=0)
    skips = models.PositiveIntegerField(default=0)
    skip_rate = models.FloatField(null=True, blank=True)
    top_answer_share = models.FloatField(null=True, blank=True)  # share of the most frequent answer
    weight = models.FloatField(default=1.0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["project_id", "user_id"]
        constraints = [models.UniqueConstraint(fields=["project", "user"], name="annotator_score_unique")]
        indexes = [models.Index(fields=["project", "status"])]

    def __str__(self) -> str:
        return f"{self.user_id}@{self.project_id}: {self.status}"


class AnnotatorStatusChange(models.Model):
    """Log of every status change: automatic (by = null) or by a reviewer/admin (an override)."""

    project = models.ForeignKey("labeling.Project", on_delete=models.CASCADE, related_name="annotator_status_log")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="status_changes")
    from_status = models.CharField(max_length=16)
    to_status = models.CharField(max_length=16)
    reason = models.TextField()
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="status_changes_made"
    )
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["project", "user"])]

    def __str__(self) -> str:
        return f"{self.user_id}: {self.from_status} -> {self.to_status}"


class CategoryCalibration(models.Model):
    """How well the confidence estimate holds for one category, checked against gold/reviewed items.

    `vote_table` is ImageNet's per-synset table generalised: for n = 1..max votes, the share of checked items
    whose consensus from their first n votes was right. `needed_votes` is the smallest n reaching the target;
    `target` is the effective confidence target after correcting for over-confidence (see quality.md).
    category = null: the project as a whole (classify projects, whose items carry no category).
    """

    project = models.ForeignKey("labeling.Project", on_delete=models.CASCADE, related_name="calibrations")
    category = models.ForeignKey(
        "labeling.Category", null=True, blank=True, on_delete=models.CASCADE, related_name="calibrations"
    )
    n_checked = models.PositiveIntegerField(default=0)
    n_correct = models.PositiveIntegerField(default=0)
    mean_confidence = models.FloatField(null=True, blank=True)
    accuracy = models.FloatField(null=True, blank=True)
    target = models.FloatField(null=True, blank=True)
    needed_votes = models.PositiveSmallIntegerField(null=True, blank=True)
    vote_table = models.JSONField(default=list, blank=True)  # [{"votes": n, "checked": c, "accuracy": a}, ...]
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["project_id", "category_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["project", "category"], condition=models.Q(category__isnull=False), name="calibration_unique"
            ),
            models.UniqueConstraint(
                fields=["project"], condition=models.Q(category__isnull=True), name="calibration_unique_project"
            ),
        ]

    def __str__(self) -> str:
        return f"calibration {self.project_id}/{self.category_id}"


class ProjectQualitySnapshot(models.Model):
    """The annotator models the online update uses, written by each full re-aggregation (one row per project).

    classes: label values in class-index order (verify [0, 1]; classify category ids, -1 = none).
    workers: {user_id: {"confusion": K x K, "weight": w, "proven": bool}}; default_confusion is for annotators not
    in it (the crowd's pooled confusion when the method estimates one). temperature: the calibration exponent on the
    votes' log-likelihoods that the aggregation chose; the online update applies the same.
    """

    project = models.OneToOneField("labeling.Project", on_delete=models.CASCADE, related_name="quality_snapshot")
    method = models.CharField(max_length=32)
    classes = models.JSONField(default=list)
    priors = models.JSONField(default=list)
    workers = models.JSONField(default=dict)
    default_confusion = models.JSONField(default=list)
    # Calibrated confidence targets by category key (str(category id); "" = project-wide), from CategoryCalibration.
    targets = models.JSONField(default=dict)
    votes_seen = models.PositiveIntegerField(default=0)  # project vote count when computed
    iterations = models.PositiveIntegerField(default=0)
    temperature = models.FloatField(default=1.0, db_default=1.0)
    # The model the default method chose for this crowd (labeling/algorithms/aggregation/choice.py), why, and the
    # cross-fitted evidence; empty for methods that choose nothing.
    model = models.CharField(max_length=32, default="", db_default="", blank=True)
    model_reason = models.TextField(default="", db_default="", blank=True)
    model_evidence = models.JSONField(default=dict, blank=True)
    computed_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"snapshot {self.project_id} ({self.method})"


class ReviewAction(models.Model):
    class Action(models.TextChoices):
        ACCEPT = "accept"
        REJECT = "reject"
        FIX = "fix"

    item = models.ForeignKey("labeling.Item", on_delete=models.CASCADE, related_name="review_actions")
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="review_actions"
    )
    action = models.CharField(max_length=8, choices=Action.choices)
    label = models.IntegerField(null=True, blank=True)
    previous_label = models.IntegerField(null=True, blank=True)
    previous_status = models.CharField(max_length=16, blank=True)
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.action} item {self.item_id}"
