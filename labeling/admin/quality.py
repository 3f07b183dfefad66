"""Admin for annotator scores: read-only (the re-aggregation writes them; a reviewer changes an annotator's status
on the project's annotators page, through annotator_status_set). One page costs a constant number of queries."""

from __future__ import annotations

from django.contrib import admin

from labeling.admin.base import ReadOnlyAdmin
from labeling.models import AnnotatorScore


@admin.register(AnnotatorScore)
class AnnotatorScoreAdmin(ReadOnlyAdmin):
    list_display = ("user", "project", "status", "ds_accuracy", "gold_accuracy", "gold_seen", "agreement", "volume",
                    "skip_rate", "updated_at")  # fmt: skip
    list_filter = ("status", "project")
    search_fields = ("=user__username", "=user__id")
    list_select_related = ("user", "project")
    ordering = ("project_id", "-volume", "user_id")
    show_full_result_count = False
