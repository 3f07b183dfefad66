"""Curation browser HTML routes (included from labeling/views/urls.py)."""

from django.urls import path

from labeling.views import curation

urlpatterns = [
    path("projects/<slug:slug>/items/", curation.curation_browse, name="curation_browse"),
    path("projects/<slug:slug>/items/bulk/", curation.curation_bulk, name="curation_bulk"),
    path("projects/<slug:slug>/items/<int:item_id>/", curation.curation_item_detail, name="curation_item"),
]
