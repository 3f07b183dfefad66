"""A paid crowd: the pay policy of a project, the append-only earnings ledger, marketplace sessions, payouts.

The ledger is written only by crowdpay.services.ledger. Every entry carries a unique `key` naming the event it
pays (`answer:<annotation id>`, `reversal:<annotation id>`, `bonus:<project>:<user>:<period>`, ...), so a
retried request, a redelivered task or a killed worker can write an entry at most once: the database refuses
the second insert. On PostgreSQL a trigger also refuses UPDATE and DELETE of entries (migration 0002).
"""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models


class PayPolicy(models.Model):
    """How a paid project pays, beyond `Project.reward_cents` and `Project.budget_cents`."""

    project = models.OneToOneField("labeling.Project", on_delete=models.CASCADE, related_name="pay_policy")
    currency = models.CharField(max_length=3, default="GBP")
    # 0: the reward is per accepted answer; N: it is per grid of N accepted answers.
    grid_size = models.PositiveSmallIntegerField(default=0)
    # Bonus per period to annotators whose gold accuracy's Wilson lower bound reaches the threshold.
    bonus_cents = models.PositiveIntegerField(default=0)
    bonus_wilson_min = models.FloatField(default=0.8, validators=[MinValueValidator(0.0), MaxValueValidator(1.0)])
    bonus_min_gold = models.PositiveIntegerField(default=10)
    # Fair pay: warn when an annotator's estimated hourly rate is below this (0 = no minimum).
    min_hourly_cents = models.PositiveIntegerField(default=0)
    # Marketplace hand-off: accepted answers before the completion code is shown, the code, and where to go.
    completion_answers = models.PositiveIntegerField(default=12)
    completion_code = models.CharField(max_length=64, blank=True)
    prolific_enabled = models.BooleanField(default=False)
    mturk_enabled = models.BooleanField(default=False)
    mturk_submit_url = models.URLField(default="https://www.mturk.com/mturk/externalSubmit")

    class Meta:
        verbose_name_plural = "pay policies"

    def __str__(self) -> str:
        return f"pay policy of {self.project_id}"


class EarningsEntry(models.Model):
    class Kind(models.TextChoices):
        ANSWER = "answer"  # an accepted answer (amount 0 in grid mode: grids are paid)
        GRID = "grid"  # a completed grid of grid_size accepted answers
        REVERSAL = "reversal"  # an answer rejected after its author was blocked (negative)
        GRID_REVERSAL = "grid_reversal"  # a grid no longer complete after reversals (negative)
        BONUS = "bonus"  # quality bonus for a period
        PAYOUT = "payout"  # money sent through a payout file (negative: the balance goes down)

    project = models.ForeignKey("labeling.Project", on_delete=models.PROTECT, related_name="earnings")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="earnings")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    amount_cents = models.BigIntegerField()
    key = models.CharField(max_length=120, unique=True)
    annotation_id = models.BigIntegerField(null=True, blank=True)  # no FK: entries outlive what they paid
    payout = models.ForeignKey("crowdpay.Payout", null=True, blank=True, on_delete=models.PROTECT)
    note = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "earnings entries"
        ordering = ["id"]
        indexes = [models.Index(fields=["project", "user", "kind"])]
        constraints = [
            models.CheckConstraint(
                condition=(
                    models.Q(kind__in=["answer", "grid", "bonus"], amount_cents__gte=0)
                    | models.Q(kind__in=["reversal", "grid_reversal", "payout"], amount_cents__lte=0)
                ),
                name="earnings_sign_by_kind",
            ),
        ]

    def __str__(self) -> str:
        return self.key


class MarketplaceSession(models.Model):
    """A worker who arrived from Prolific or MTurk: their scoped account and the ids the marketplace gave."""

    class Marketplace(models.TextChoices):
        PROLIFIC = "prolific", "Prolific"
        MTURK = "mturk", "Amazon Mechanical Turk"

    project = models.ForeignKey("labeling.Project", on_delete=models.CASCADE, related_name="marketplace_sessions")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="marketplace_sessions")
    marketplace = models.CharField(max_length=16, choices=Marketplace.choices)
    worker_id = models.CharField(max_length=64)  # PROLIFIC_PID / workerId
    study_id = models.CharField(max_length=64, blank=True)  # STUDY_ID / hitId
    session_id = models.CharField(max_length=64, blank=True)  # SESSION_ID / assignmentId
    submit_to = models.CharField(max_length=200, blank=True)  # MTurk's turkSubmitTo
    created_at = models.DateTimeField(auto_now_add=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["project", "marketplace", "worker_id"], name="marketplace_worker_unique")
        ]

    def __str__(self) -> str:
        return f"{self.marketplace}:{self.worker_id}"


class Payout(models.Model):
    class Format(models.TextChoices):
        PROLIFIC = "prolific"
        MTURK = "mturk"
        CSV = "csv"

    project = models.ForeignKey("labeling.Project", on_delete=models.PROTECT, related_name="payouts")
    format = models.CharField(max_length=16, choices=Format.choices)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    total_cents = models.BigIntegerField(default=0)
    workers = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"payout {self.pk}"
