"""Admin for the quality data: read-only (the quality engine and its services write these rows; a reviewer changes
an annotator's status on the project's annotators page, through annotator_status_set). Each list page costs a
constant number of queries."""

from __future__ import annotations

from django.contrib import admin

from labeling.admin.base import ReadOnlyAdmin
from labeling.models import AnnotatorAppeal, AnnotatorLiveStats, AnnotatorScore, AnnotatorStatusChange, ModelOpinion


@admin.register(AnnotatorScore)
class AnnotatorScoreAdmin(ReadOnlyAdmin):
    list_display = ("user", "project", "status", "ds_accuracy", "gold_accuracy", "gold_seen", "agreement", "volume",
                    "skip_rate", "updated_at")  # fmt: skip
    list_filter = ("status", "project")
    search_fields = ("=user__username", "=user__id")
    list_select_related = ("user", "project")
    ordering = ("project_id", "-volume", "user_id")
    show_full_result_count = False


class _PerAnnotatorAdmin(ReadOnlyAdmin):
    """Rows of one annotator in one project: found by username or user id, filtered by project."""

    list_filter = ("project",)
    search_fields = ("=user__username", "=user__id")
    list_select_related = ("user", "project")
    raw_id_fields = ("user", "project")
    show_full_result_count = False


@admin.register(AnnotatorLiveStats)
class AnnotatorLiveStatsAdmin(_PerAnnotatorAdmin):
    """The online statistics the live rules read (triggers.py): answers, agreement, speed, repeats."""

    list_display = ("user", "project", "answers", "compared", "agreed", "gold_compared", "gold_agreed", "decisions",
                    "fast_decisions", "repeats", "updated_at")  # fmt: skip


@admin.register(AnnotatorStatusChange)
class AnnotatorStatusChangeAdmin(_PerAnnotatorAdmin):
    """Every status change with its reason and who made it (empty: a rule)."""

    list_display = ("at", "user", "project", "from_status", "to_status", "reason", "by")
    list_filter = ("to_status", "project")
    list_select_related = ("user", "project", "by")
    raw_id_fields = ("user", "project", "by")
    date_hierarchy = "at"


@admin.register(AnnotatorAppeal)
class AnnotatorAppealAdmin(_PerAnnotatorAdmin):
    """Blocked volunteers' notes to the reviewers (answered on the project's annotators page)."""

    list_display = ("created_at", "user", "project", "text", "resolved_at")


@admin.register(ModelOpinion)
class ModelOpinionAdmin(ReadOnlyAdmin):
    """What each model says about each item (one row per item and source, written by quality.opinions)."""

    list_display = ("item_id", "source", "run_id", "predicted", "confidence", "proven", "created_at")
    list_filter = ("source", "proven", "item__project")
    search_fields = ("=item__id",)
    raw_id_fields = ("item", "run")
    date_hierarchy = "created_at"
    show_full_result_count = False
