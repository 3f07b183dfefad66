"""Routes of the gold import API (included from labeling/api/urls.py)."""

from django.urls import path

from labeling.api import gold

urlpatterns = [
    path("projects/<slug:slug>/gold/import", gold.GoldImportApi.as_view(), name="api-gold-import"),
]
