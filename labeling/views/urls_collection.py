"""HTML routes of collection and contributions (included from labeling/views/urls.py)."""

from django.urls import path

from labeling.views import collection

urlpatterns = [
    path("projects/<slug:slug>/collect/", collection.project_collect, name="project_collect"),
    path("projects/<slug:slug>/contribute/", collection.project_contribute, name="project_contribute"),
    path("projects/<slug:slug>/contributions/", collection.project_contributions, name="project_contributions"),
]
