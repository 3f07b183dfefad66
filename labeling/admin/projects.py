"""Admin for projects and categories (edits through the project and category services)."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.db import models
from django.db.models import Count, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.http import HttpRequest

from annotate.exceptions import ServiceError
from labeling.admin.base import ReadOnlyInline
from labeling.models import (
    Category,
    Item,
    Project,
)
from labeling.services.categories import category_update
from labeling.services.project_settings import SETTINGS_FIELDS, project_update


def _count_of(model: type[models.Model], fk: str) -> Coalesce:
    """Rows of `model` pointing at the outer row, as a scalar subquery."""
    rows = model.objects.filter(**{fk: OuterRef("pk")}).order_by().values(fk).annotate(n=Count("pk")).values("n")
    return Coalesce(Subquery(rows, output_field=models.IntegerField()), 0)


class CategoryInline(ReadOnlyInline):
    model = Category
    fields = ("name", "wnid", "parent", "definition")
    readonly_fields = fields


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "task_type", "visibility", "n_items", "n_categories", "aggregation_method",
                    "created_at")  # fmt: skip
    list_filter = ("task_type", "visibility", "aggregation_method")
    search_fields = ("name", "slug")
    # box_mode is read-only like task_type: answers already stored are shaped by it.
    readonly_fields = ("slug", "task_type", "box_mode", "aggregation_method", "owners", "reviewers", "members",
                       "created_at")  # fmt: skip
    fields = ("name", "slug", "task_type", "box_mode", "instructions", "min_votes", "max_votes", "confidence_target",
              "gold_rate", "qualification_size", "stall_hours", "visibility", "aggregation_method",
              "owners", "reviewers", "members", "created_at")  # fmt: skip
    inlines = [CategoryInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Project]:
        # One correlated count per shown row (an index-only scan of the project's items), not COUNT(DISTINCT)
        # over the items x categories join: 1M items x 1,000 categories took 11 s (issue 26).
        return (
            super()
            .get_queryset(request)
            .annotate(items_total=_count_of(Item, "project"), categories_total=_count_of(Category, "project"))
        )

    @admin.display(description="items", ordering="items_total")
    def n_items(self, obj: Project) -> int:
        return obj.items_total

    @admin.display(description="categories", ordering="categories_total")
    def n_categories(self, obj: Project) -> int:
        return obj.categories_total

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # projects are created on the site (project_create sets the owner and categories)

    def save_model(self, request: HttpRequest, obj: Project, form: forms.ModelForm, change: bool) -> None:
        changed = {f: form.cleaned_data[f] for f in form.changed_data if f in SETTINGS_FIELDS}
        if changed:
            project_update(project=Project.objects.get(pk=obj.pk), **changed)


class CategoryForm(forms.ModelForm):
    class Meta:
        model = Category
        fields = ("name", "definition", "wnid", "parent")

    def clean(self) -> dict:
        data = super().clean()
        parent = data.get("parent")
        if parent is not None and parent.project_id != self.instance.project_id:
            raise forms.ValidationError("The parent must be a category of the same project.")
        return data


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
    form = CategoryForm
    list_display = ("name", "project", "wnid", "parent", "n_items")
    list_filter = ("project",)
    search_fields = ("name", "wnid", "definition")
    list_select_related = ("project", "parent")
    raw_id_fields = ("parent",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Category]:
        return super().get_queryset(request).annotate(items_total=_count_of(Item, "category"))

    @admin.display(description="items", ordering="items_total")
    def n_items(self, obj: Category) -> int:
        return obj.items_total

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # categories are added on the project's categories page (import, upsert)

    def save_model(self, request: HttpRequest, obj: Category, form: forms.ModelForm, change: bool) -> None:
        d = form.cleaned_data
        try:
            category_update(category=Category.objects.get(pk=obj.pk), name=d["name"], definition=d["definition"],
                            wnid=d["wnid"], parent=d["parent"])  # fmt: skip
        except ServiceError as exc:
            messages.error(request, exc.message)


# --- images -------------------------------------------------------------------------------------------------------
