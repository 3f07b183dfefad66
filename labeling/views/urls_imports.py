"""Annotation import HTML route (included from labeling/views/urls.py)."""

from django.urls import path

from labeling.views import imports

urlpatterns = [
    path("projects/<slug:slug>/import/", imports.annotation_import, name="annotation_import"),
]
