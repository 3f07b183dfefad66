"""Work items, leases and skips: what the assignment engine hands out."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class Item(models.Model):
    """One question: (project, image, candidate category) for `verify`, (project, image) otherwise.

    Labels are integers: for `verify` 0 = no, 1 = yes; for `classify` the category id
    (-1 = none/unsure); `boxes` items carry their consensus boxes in `answer`.
    """

    class Status(models.TextChoices):
        OPEN = "open"  # still needs votes
        DONE = "done"  # consensus reached (quality engine)
        REVIEW = "review"  # max votes without consensus, or flagged
        ACCEPTED = "accepted"  # a reviewer accepted the consensus
        REJECTED = "rejected"  # a reviewer rejected the image for this category / project

    # No index of its own: item_queue_idx and the other (project, ...) indexes lead with it, and every extra index
    # is written again for each item row a full re-aggregation rewrites (a million rows: issue 26).
    project = models.ForeignKey("labeling.Project", on_delete=models.CASCADE, related_name="items", db_index=False)
    image = models.ForeignKey("labeling.Image", on_delete=models.CASCADE, related_name="items")
    category = models.ForeignKey(
        "labeling.Category", null=True, blank=True, on_delete=models.CASCADE, related_name="items"
    )

    class ReviewReason(models.TextChoices):
        MAX_VOTES = "max_votes", _("max votes without consensus")
        NO_ANNOTATOR = "no_annotator", _("no eligible annotator left")
        STALLED = "stalled", _("waited too long for a vote")
        CURATOR = "curator", _("sent by a researcher or reviewer")
        MODEL_DISAGREES_CV = "model_disagrees_cv", _("model disagrees (cross-validated)")  # training find_label_errors

    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    # Why the engine sent the item to review (status review); empty otherwise.
    review_reason = models.CharField(max_length=32, choices=ReviewReason.choices, blank=True, default="", db_default="")
    votes_count = models.PositiveIntegerField(default=0)
    needed_votes = models.PositiveIntegerField(default=3)
    # Higher is served first among items with equally few votes (quality engine, active learning).
    priority = models.FloatField(default=0.0)
    # Gold: a known answer. Never serialised to volunteers.
    is_gold = models.BooleanField(default=False)
    gold_label = models.IntegerField(null=True, blank=True)
    gold_answer = models.JSONField(null=True, blank=True)
    # A curator's decision: dataset_version_create leaves the item out (labeling continues as usual).
    excluded = models.BooleanField(default=False, db_default=False, help_text="Left out of new dataset versions.")
    # Consensus written by the quality engine.
    label = models.IntegerField(null=True, blank=True)
    answer = models.JSONField(null=True, blank=True)
    posterior = models.JSONField(null=True, blank=True)
    confidence = models.FloatField(null=True, blank=True)
    # Bumped by every write of the item's state (quality.transitions): a long computation that read the item
    # writes it back only if the version is still the one it read (CONVENTIONS §19: a version, not a proxy).
    version = models.PositiveBigIntegerField(default=0, db_default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["project", "image", "category"],
                condition=models.Q(category__isnull=False),
                name="item_unique_verify",
            ),
            models.UniqueConstraint(
                fields=["project", "image"], condition=models.Q(category__isnull=True), name="item_unique_plain"
            ),
        ]
        indexes = [
            models.Index(fields=["project", "status", "votes_count", "-priority", "id"], name="item_queue_idx"),
            models.Index(fields=["project", "is_gold"], name="item_gold_idx"),
            # next_items walks these in queue order and stops after a grid's worth of rows, whatever the project
            # size (assignment.md, "Queries"): open regular work and gold, per category (verify grids) or not.
            models.Index(
                fields=["project", "category", "votes_count", "-priority", "id"],
                condition=models.Q(status="open", is_gold=False),
                name="item_open_category_idx",
            ),
            models.Index(
                fields=["project", "category", "votes_count", "-priority", "id"],
                condition=models.Q(is_gold=True),
                name="item_gold_category_idx",
            ),
            models.Index(
                fields=["project", "votes_count", "-priority", "id"],
                condition=models.Q(is_gold=True),
                name="item_gold_queue_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"item {self.pk}"


class Lease(models.Model):
    """A user's temporary claim on an item; counts towards its votes until it expires."""

    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="leases")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="leases")
    expires_at = models.DateTimeField(db_index=True)
    # A qualification (practice) item: the answer's result shows the volunteer the right answer. Set by the
    # assignment engine when it hands out qualification gold; never true for gold mixed into regular work.
    practice = models.BooleanField(default=False, db_default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["item", "user"], name="lease_one_per_user_item")]

    def __str__(self) -> str:
        return f"lease item {self.item_id} user {self.user_id}"


class Skip(models.Model):
    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="skips")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="skips")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["user", "item"])]

    def __str__(self) -> str:
        return f"skip item {self.item_id} user {self.user_id}"
