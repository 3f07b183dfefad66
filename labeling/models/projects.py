"""Projects and their categories (the label space)."""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _


class Project(models.Model):
    class TaskType(models.TextChoices):
        VERIFY = "verify", _("Verify (grid: does the image contain the category?)")
        CLASSIFY = "classify", _("Classify (pick one of K categories)")
        BOXES = "boxes", _("Bounding boxes")

    class BoxMode(models.TextChoices):
        # single: one class per image, boxes carry none (ImageNet localisation; verify-then-localise workflows).
        # detect: each box carries a category of the project, several per image (COCO, ILSVRC-DET).
        SINGLE = "single", _("One category per image (localisation)")
        DETECT = "detect", _("A category per box (object detection)")

    class Visibility(models.TextChoices):
        PUBLIC = "public", _("Public to all volunteers")
        INVITE = "invite", _("Invite-only")

    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=100, unique=True)
    instructions = models.TextField(blank=True, help_text="Plain text or safe markdown.")
    task_type = models.CharField(max_length=16, choices=TaskType.choices, default=TaskType.VERIFY)
    # Redundancy: the quality engine stops asking at confidence_target once min_votes are in,
    # and sends the item to review at max_votes.
    min_votes = models.PositiveSmallIntegerField(default=3, validators=[MinValueValidator(0)])
    max_votes = models.PositiveSmallIntegerField(default=7, validators=[MinValueValidator(1)])
    confidence_target = models.FloatField(default=0.95, validators=[MinValueValidator(0.5), MaxValueValidator(0.9999)])
    gold_rate = models.FloatField(default=0.1, validators=[MinValueValidator(0.0), MaxValueValidator(0.5)])
    qualification_size = models.PositiveSmallIntegerField(
        default=0, help_text="Gold items a new volunteer answers before regular work."
    )
    audit_rate = models.FloatField(
        default=0.05,
        db_default=0.05,
        validators=[MinValueValidator(0.0), MaxValueValidator(0.5)],
        help_text="Share of items that collect max votes whatever their confidence: the reference that checks "
        "whether stopping early at the confidence target is honest (ImageNet's initial subset per synset).",
    )
    stall_hours = models.FloatField(
        default=24.0,
        db_default=24.0,
        validators=[MinValueValidator(0.0)],
        help_text="An item with votes that waits this many hours for its next vote goes to review (0 = never).",
    )
    box_mode = models.CharField(
        max_length=8,
        choices=BoxMode.choices,
        default=BoxMode.SINGLE,
        db_default=BoxMode.SINGLE,
        help_text="Box projects only: whether each box carries its own category. Set at creation.",
    )
    visibility = models.CharField(max_length=16, choices=Visibility.choices, default=Visibility.PUBLIC)
    # A name in labeling.algorithms.aggregation.METHODS; new projects take its DEFAULT_METHOD.
    aggregation_method = models.CharField(max_length=32, default="pooled_dawid_skene")
    # Collection (labeling.services.collection): languages whose category names become queries (zh-Hans first),
    # licences a collected image may carry, and whether volunteers may contribute images (under which licence).
    collect_languages = models.JSONField(default=list, db_default=[], blank=True)
    allowed_licenses = models.JSONField(default=list, db_default=[], blank=True)
    contributions_open = models.BooleanField(default=False, db_default=False)
    contribution_license = models.CharField(max_length=100, blank=True, default="", db_default="")
    # Payment (crowdpay): the reward per accepted answer and the budget assignment stops before (null = unpaid /
    # no budget). On the project so that assignment's hot path reads them without a query.
    reward_cents = models.PositiveIntegerField(default=0, db_default=0)
    budget_cents = models.PositiveBigIntegerField(null=True, blank=True)
    owners = models.ManyToManyField(settings.AUTH_USER_MODEL, related_name="owned_projects", blank=True)
    reviewers = models.ManyToManyField(settings.AUTH_USER_MODEL, related_name="reviewed_projects", blank=True)
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL, related_name="member_projects", blank=True, help_text="Invited volunteers."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(max_votes__gte=models.F("min_votes")), name="project_votes_range"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def detects(self) -> bool:
        """A box project whose boxes carry a category each (box_mode detect)."""
        return self.task_type == self.TaskType.BOXES and self.box_mode == self.BoxMode.DETECT


class Category(models.Model):
    """A class of the project's label space; for ImageNet-style work, a WordNet synset with its gloss."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="categories")
    name = models.CharField(max_length=200)
    definition = models.TextField(blank=True)
    wnid = models.CharField(max_length=32, blank=True)
    # Collection queries: more names of the category, and its names per language ({"zh-Hans": ["狗"]}).
    synonyms = models.JSONField(default=list, db_default=[], blank=True)
    names = models.JSONField(default=dict, db_default={}, blank=True)
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="children")
    example_images = models.ManyToManyField("labeling.Image", blank=True, related_name="example_of")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "categories"
        ordering = ["project_id", "id"]
        constraints = [models.UniqueConstraint(fields=["project", "name"], name="category_unique_name_per_project")]

    def __str__(self) -> str:
        return self.name
