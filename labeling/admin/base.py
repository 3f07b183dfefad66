"""Shared admin pieces: read-only admins and inlines, image thumbnails."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from labeling.models import (
    Image,
)


class ReadOnlyAdmin(admin.ModelAdmin):
    """View-only for everyone (superusers included): the rows are written by services, never by hand."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


def thumbnail_html(image: Image | None, size: int = 64) -> str:
    if image is None:
        return "—"
    url = reverse("admin:labeling_image_thumbnail", args=[image.pk])
    return format_html('<img src="{}" alt="image {}" width="{}" height="{}" loading="lazy">', url, image.pk, size, size)


# --- projects and categories ------------------------------------------------------------------------------------
