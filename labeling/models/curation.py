"""Curation: what researchers and reviewers do to items outside the labeling flow, logged for the item history."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from labeling.models.items import Item


class CurationAction(models.Model):
    """One curator decision on one item (bulk actions write one row per item). Written by labeling.services.curation."""

    class Action(models.TextChoices):
        SEND_TO_REVIEW = "review", _("sent to review")
        GOLD = "gold", _("marked as gold")
        UNGOLD = "ungold", _("gold removed")
        EXCLUDE = "exclude", _("excluded from datasets")
        INCLUDE = "include", _("included in datasets again")
        EXAMPLE = "example", _("made an example image of its category")
        UNEXAMPLE = "unexample", _("no longer an example image")

    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="curation_actions")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="curation_actions"
    )
    action = models.CharField(max_length=16, choices=Action.choices)
    label = models.IntegerField(null=True, blank=True)
    previous_status = models.CharField(max_length=16, blank=True)
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["item", "at"])]

    def __str__(self) -> str:
        return f"{self.action} item {self.item_id}"


class GoldItem(Item):
    """Gold items as their own admin list (a proxy: same table as Item)."""

    class Meta:
        proxy = True
        verbose_name = "gold item"
