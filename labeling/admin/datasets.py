"""Admin for dataset versions, exports and ingest batches (read-only)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from labeling.admin.base import ReadOnlyAdmin, ReadOnlyInline
from labeling.models import (
    DatasetExport,
    DatasetVersion,
    IngestBatch,
    IngestEntry,
    Project,
)


class ExportInline(ReadOnlyInline):
    model = DatasetExport
    fields = ("format", "status", "progress", "size", "items_count", "created_at", "finished_at", "error")
    readonly_fields = fields


@admin.register(DatasetVersion)
class DatasetVersionAdmin(ReadOnlyAdmin):
    """Immutable snapshots: view only, for everyone (DatasetVersion.save refuses updates anyway)."""

    list_display = ("__str__", "project", "number", "name", "items_count", "hash_short", "created_by", "created_at")
    list_filter = ("project",)
    search_fields = ("name", "content_hash", "project__slug")
    list_select_related = ("project", "created_by")
    exclude = ("card",)
    readonly_fields = ("project", "number", "name", "filters", "split_train", "split_val", "split_test",
                       "seed", "classes", "items_count", "content_hash", "stats", "card_text", "created_by",
                       "created_at")  # fmt: skip
    inlines = [ExportInline]

    @admin.display(description="content hash")
    def hash_short(self, obj: DatasetVersion) -> str:
        return obj.content_hash[:12]

    @admin.display(description="dataset card")
    def card_text(self, obj: DatasetVersion) -> str:
        return format_html("<pre>{}</pre>", obj.card)


@admin.register(DatasetExport)
class DatasetExportAdmin(ReadOnlyAdmin):
    list_display = ("id", "version", "project", "format", "status", "progress", "size", "items_count", "created_by",
                    "created_at", "finished_at")  # fmt: skip
    list_filter = ("format", "status", "version__project")
    search_fields = ("=id", "version__project__slug", "error")
    list_select_related = ("version__project", "created_by")

    @admin.display(description="project", ordering="version__project")
    def project(self, obj: DatasetExport) -> Project:
        return obj.version.project


# --- ingestion ----------------------------------------------------------------------------------------------------


@admin.register(IngestBatch)
class IngestBatchAdmin(ReadOnlyAdmin):
    list_display = ("id", "project", "kind", "status", "total", "processed", "ingested", "duplicates",
                    "near_duplicates", "rejected", "created_by", "created_at", "finished_at")  # fmt: skip
    list_filter = ("status", "kind", "project")
    search_fields = ("=id", "source", "project__slug")
    list_select_related = ("project", "created_by")

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [f.name for f in IngestBatch._meta.fields] + ["entries_link"]

    @admin.display(description="entries")
    def entries_link(self, obj: IngestBatch) -> str:
        url = reverse("admin:labeling_ingestentry_changelist") + f"?batch__id__exact={obj.pk}"
        return format_html('<a href="{}">every entry of this batch</a>', url)


@admin.register(IngestEntry)
class IngestEntryAdmin(ReadOnlyAdmin):
    list_display = ("id", "batch_id", "key_short", "status", "reason_code", "image_id", "category")
    list_filter = ("status", "reason_code")
    search_fields = ("key", "=batch__id", "reason_code")
    list_select_related = ("category",)
    raw_id_fields = ("batch", "image", "category")
    show_full_result_count = False

    @admin.display(description="key")
    def key_short(self, obj: IngestEntry) -> str:
        return obj.key[:80]
