"""HTML routes of projects and volunteer labeling (included from labeling/views/urls.py)."""

from django.urls import path

from labeling.views import labeling, projects

urlpatterns = [
    path("projects/", projects.project_list, name="project_list"),
    path("projects/new/", projects.project_create_view, name="project_create"),
    path("projects/<slug:slug>/", projects.project_detail, name="project_detail"),
    path("projects/<slug:slug>/label/", labeling.label, name="label"),
    path("projects/<slug:slug>/label/appeal/", labeling.label_appeal, name="label_appeal"),
    path("projects/<slug:slug>/leaderboard/", labeling.leaderboard, name="leaderboard"),
    path("profile/", labeling.profile, name="profile"),
]
