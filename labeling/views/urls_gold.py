"""HTML routes of the gold import page (included from labeling/views/urls.py)."""

from django.urls import path

from labeling.views import gold

urlpatterns = [
    path("projects/<slug:slug>/gold/", gold.project_gold, name="project_gold"),
]
