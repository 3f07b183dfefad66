"""Routes of the annotation import API (included from labeling/api/urls.py)."""

from django.urls import path

from labeling.api import imports

urlpatterns = [
    path("projects/<slug:slug>/imports", imports.AnnotationImportApi.as_view(), name="api-annotations-import"),
]
