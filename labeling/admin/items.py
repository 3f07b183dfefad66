"""Admin for images, items, gold, annotations and review / curation actions."""

from __future__ import annotations

import re
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import path

from annotate.exceptions import ServiceError
from labeling.admin.base import ReadOnlyAdmin, ReadOnlyInline, thumbnail_html
from labeling.models import (
    Annotation,
    CurationAction,
    GoldItem,
    Image,
    Item,
    Project,
    ReviewAction,
)
from labeling.services.curation import items_mark_gold, items_send_to_review, items_set_excluded
from labeling.services.quality import label_validate


@admin.register(Image)
class ImageAdmin(ReadOnlyAdmin):
    list_display = ("id", "preview", "sha_short", "width", "height", "format", "size_bytes", "canonical_id",
                    "created_at")  # fmt: skip
    list_filter = ("format", "mode")
    search_fields = ("=sha256", "=id", "sources__source_uri")
    readonly_fields = ("large_preview", "sha256", "width", "height", "format", "mode", "size_bytes", "phash",
                       "canonical", "created_at")  # fmt: skip
    exclude = ("file", "thumbnail")
    show_full_result_count = False

    @admin.display(description="preview")
    def preview(self, obj: Image) -> str:
        return thumbnail_html(obj)

    @admin.display(description="preview")
    def large_preview(self, obj: Image) -> str:
        return thumbnail_html(obj, 256)

    @admin.display(description="sha256", ordering="sha256")
    def sha_short(self, obj: Image) -> str:
        return obj.sha256[:12]

    def get_urls(self) -> list:
        view = self.admin_site.admin_view(self.thumbnail_view)
        return [path("<int:pk>/thumbnail/", view, name="labeling_image_thumbnail"), *super().get_urls()]

    def thumbnail_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """The stored thumbnail (or the original when there is none) for staff who may view images here: the
        admin does not depend on being a member of the projects that hold the image."""
        from labeling.services.ingestion.validation import CONTENT_TYPES
        from labeling.views.media import _serve

        if not self.has_view_permission(request):
            raise PermissionDenied
        image = Image.objects.filter(pk=pk).values("sha256", "file", "thumbnail", "format").first()
        if image is None:
            raise Http404("No such image.")
        if image["thumbnail"]:
            return _serve(image["thumbnail"], content_type="image/jpeg", filename=f"{image['sha256']}.jpg")
        if image["format"] not in CONTENT_TYPES:
            raise Http404("No preview.")
        return _serve(image["file"], content_type=CONTENT_TYPES[image["format"]], filename=image["sha256"])


# --- items, votes, gold -------------------------------------------------------------------------------------------


class AnnotationInline(ReadOnlyInline):
    model = Annotation
    fields = ("user", "label", "answer", "time_spent_ms", "created_at")
    readonly_fields = fields
    ordering = ("id",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Annotation]:
        return super().get_queryset(request).select_related("user")


class ReviewActionInline(ReadOnlyInline):
    model = ReviewAction
    fields = ("at", "reviewer", "action", "label", "previous_label", "previous_status")
    readonly_fields = fields
    show_change_link = False

    def get_queryset(self, request: HttpRequest) -> QuerySet[ReviewAction]:
        return super().get_queryset(request).select_related("reviewer")


class CurationActionInline(ReadOnlyInline):
    model = CurationAction
    fields = ("at", "user", "action", "label", "previous_status")
    readonly_fields = fields
    show_change_link = False

    def get_queryset(self, request: HttpRequest) -> QuerySet[CurationAction]:
        return super().get_queryset(request).select_related("user")


def _bulk(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet[Item], run: Any, what: str) -> None:
    """Run a curation service per project of the selected items (each project's items all or nothing)."""
    by_project: dict[int, list[int]] = {}
    for project_id, item_id in queryset.values_list("project_id", "id"):
        by_project.setdefault(project_id, []).append(item_id)
    changed = 0
    for project in Project.objects.filter(pk__in=by_project):
        try:
            changed += len(run(project=project, item_ids=by_project[project.pk], user=request.user).changed)
        except ServiceError as exc:
            modeladmin.message_user(request, f"{project}: {exc.message}", messages.ERROR)
    modeladmin.message_user(request, f"{changed} item(s) {what}.", messages.SUCCESS)


@admin.action(description="Send to review", permissions=["change"])
def send_to_review(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet[Item]) -> None:
    _bulk(modeladmin, request, queryset, items_send_to_review, "sent to review")


@admin.action(description="Exclude from new dataset versions", permissions=["change"])
def exclude_from_datasets(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet[Item]) -> None:
    def run(**kw: Any) -> Any:
        return items_set_excluded(excluded=True, **kw)

    _bulk(modeladmin, request, queryset, run, "excluded from datasets")


@admin.action(description="Include in new dataset versions again", permissions=["change"])
def include_in_datasets(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet[Item]) -> None:
    def run(**kw: Any) -> Any:
        return items_set_excluded(excluded=False, **kw)

    _bulk(modeladmin, request, queryset, run, "included in datasets")


@admin.action(description="Remove gold status", permissions=["change"])
def remove_gold(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet[Item]) -> None:
    def run(**kw: Any) -> Any:
        return items_mark_gold(label=None, **kw)

    _bulk(modeladmin, request, queryset, run, "no longer gold")


ITEM_FIELDS = ("project", "image", "preview", "category", "status", "review_reason", "votes_count", "needed_votes",
               "priority", "label", "confidence", "posterior", "answer", "is_gold", "gold_label", "gold_answer",
               "excluded", "created_at", "updated_at")  # fmt: skip


_SHA256 = re.compile(r"[0-9a-f]{64}")


def items_search(queryset: QuerySet, term: str) -> QuerySet:
    """The item search box: a number is an item id, 64 hex digits an image's SHA-256, anything else part of the
    username of someone who voted on the item (a username that matches exactly: that user only). One of the three,
    never an OR of all of them: the admin's generic search joined every item to every vote and user and
    de-duplicated them (2 s at 100k items for an id), where each of these walks one index (issue 26)."""
    term = term.strip()
    if not term:
        return queryset
    if term.isascii() and term.isdigit():
        return queryset.filter(pk=int(term)) if len(term) <= 18 else queryset.none()
    if _SHA256.fullmatch(term.lower()):
        return queryset.filter(image__sha256=term.lower())
    users = get_user_model().objects
    exact = users.filter(username__iexact=term)
    voters = (exact if exact.exists() else users.filter(username__icontains=term)).values("pk")
    return queryset.filter(pk__in=Annotation.objects.filter(user_id__in=voters).values("item_id"))


@admin.register(Item)
class ItemAdmin(ReadOnlyAdmin):
    list_display = ("id", "preview", "project", "category", "status", "label", "confidence", "votes_count",
                    "is_gold", "excluded", "updated_at")  # fmt: skip
    list_filter = ("status", "is_gold", "excluded", "review_reason", "project")
    search_fields = ("=id", "=image__sha256", "annotations__user__username")  # the box; items_search runs it
    # The page's project, category and image by three prefetches, not joins: joined, every item of the table was
    # joined before a sort by a column (confidence) kept the first hundred (2.4 s at a million items).
    list_select_related = ()
    fields = ITEM_FIELDS
    readonly_fields = ITEM_FIELDS
    inlines = [AnnotationInline, ReviewActionInline, CurationActionInline]
    actions = [send_to_review, exclude_from_datasets, include_in_datasets]
    show_full_result_count = False

    def get_queryset(self, request: HttpRequest) -> QuerySet[Item]:
        return super().get_queryset(request).prefetch_related("project", "category", "image")

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Fields stay read-only (see the form); the permission gates the actions (operators yes, auditors no).
        return obj is None and super(ReadOnlyAdmin, self).has_change_permission(request, obj)

    @admin.display(description="image")
    def preview(self, obj: Item) -> str:
        return thumbnail_html(obj.image)

    def get_search_results(self, request: HttpRequest, queryset: QuerySet, search_term: str) -> tuple[QuerySet, bool]:
        return items_search(queryset, search_term), False


class GoldForm(forms.ModelForm):
    class Meta:
        model = GoldItem
        fields = ("gold_label",)

    def clean_gold_label(self) -> int:
        label = self.cleaned_data.get("gold_label")
        try:
            return label_validate(project=self.instance.project, label=label)
        except ServiceError as exc:
            raise forms.ValidationError(exc.message) from exc


@admin.register(GoldItem)
class GoldItemAdmin(admin.ModelAdmin):
    """Gold items: change the known answer (through gold_set) or remove gold status; new gold is set from the
    curation browser or the gold import, where the label is chosen with the item in view."""

    form = GoldForm
    list_display = ("id", "preview", "project", "category", "gold_label", "status", "votes_count")
    list_filter = ("project", "status")
    search_fields = ("=id", "=image__sha256")
    list_select_related = ("project", "category", "image")
    readonly_fields = ("project", "preview", "category", "status", "votes_count", "label")
    fields = ("project", "preview", "category", "gold_label", "status", "votes_count", "label")
    actions = [remove_gold]

    def get_queryset(self, request: HttpRequest) -> QuerySet[GoldItem]:
        return super().get_queryset(request).filter(is_gold=True)

    @admin.display(description="image")
    def preview(self, obj: Item) -> str:
        return thumbnail_html(obj.image)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: GoldItem, form: forms.ModelForm, change: bool) -> None:
        if "gold_label" in form.changed_data:
            project = Project.objects.get(pk=obj.project_id)
            items_mark_gold(project=project, item_ids=[obj.pk], label=form.cleaned_data["gold_label"],
                            user=request.user)  # fmt: skip


@admin.register(Annotation)
class AnnotationAdmin(ReadOnlyAdmin):
    list_display = ("id", "item_id", "project", "user", "label", "time_spent_ms", "created_at")
    list_filter = ("item__project",)
    search_fields = ("=item__id", "user__username")
    list_select_related = ("item__project", "user")
    raw_id_fields = ("item", "user")
    date_hierarchy = "created_at"
    show_full_result_count = False

    @admin.display(description="project", ordering="item__project")
    def project(self, obj: Annotation) -> Project:
        return obj.item.project


@admin.register(ReviewAction)
class ReviewActionAdmin(ReadOnlyAdmin):
    list_display = ("at", "item_id", "reviewer", "action", "label", "previous_label", "previous_status")
    list_filter = ("action", "item__project")
    search_fields = ("=item__id", "reviewer__username")
    list_select_related = ("reviewer",)


@admin.register(CurationAction)
class CurationActionAdmin(ReadOnlyAdmin):
    list_display = ("at", "item_id", "user", "action", "label", "previous_status")
    list_filter = ("action", "item__project")
    search_fields = ("=item__id", "user__username")
    list_select_related = ("user",)


# --- dataset versions and exports ---------------------------------------------------------------------------------
