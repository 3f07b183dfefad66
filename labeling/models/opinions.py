"""A model's opinion of an item, as typed rows (issue 22: instead of the `Item.model_probs` JSON bag, which any
writer could erase for the others). One row per (item, source); the one writer is
labeling.services.quality.opinions, the readers go through labeling/selectors and quality.opinions."""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class ModelOpinion(models.Model):
    """What one model says about one item: its distribution over the item's answers (`class_ids`: label values,
    as in Item.label -- verify 0/1, classify category ids and -1 for "none"), and, when the model voter measured it
    on checked items, its bounded vote (`vote`: likelihoods over the same `class_ids`), which the quality engine
    folds into the item's posterior. Deleted when the project's categories change (the ids would mean
    something else)."""

    class Source(models.TextChoices):
        RUN = "run", "training run"
        ZERO_SHOT = "zero_shot", "zero-shot pretrained classifier"
        LABEL_ERROR = "label_error", "cross-validated label-error finder"

    item = models.ForeignKey("labeling.Item", on_delete=models.CASCADE, related_name="model_opinions")
    source = models.CharField(max_length=16, choices=Source.choices)
    run = models.ForeignKey("training.TrainingRun", null=True, blank=True, on_delete=models.CASCADE,
                            related_name="+")  # fmt: skip
    class_ids = models.JSONField(default=list, help_text="Label values, in the order of the lists below.")
    probabilities = models.JSONField(default=list, help_text="The model's distribution over class_ids.")
    predicted = models.IntegerField(null=True, blank=True, help_text="The label value of the top probability.")
    confidence = models.FloatField(null=True, blank=True, help_text="The top probability.")
    entropy = models.FloatField(null=True, blank=True)
    margin = models.FloatField(null=True, blank=True)
    vote = models.JSONField(null=True, blank=True, help_text="Bounded likelihoods over class_ids (a voter's).")
    proven = models.BooleanField(default=False, help_text="Measured on checked items like a proven person.")
    max_weight = models.FloatField(null=True, blank=True, help_text="The vote's bound, in nats.")
    detail = models.JSONField(default=dict, blank=True, help_text="The finder's facts (given, score, folds, version).")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["item", "source"], name="model_opinion_one_per_source")]

    def __str__(self) -> str:
        return f"{self.source} opinion on item {self.item_id}"
