"""Webhooks HTML route (included from labeling/views/urls.py)."""

from django.urls import path

from labeling.views import webhooks

urlpatterns = [
    path("projects/<slug:slug>/webhooks/", webhooks.project_webhooks, name="project_webhooks"),
]
