"""Every API route, under /api/. Each app owns its own api/urls.py."""

from django.urls import include, path

from annotate.api import MeApi, TokenApi

urlpatterns = [
    path("me/", MeApi.as_view(), name="api-me"),
    path("auth/token/", TokenApi.as_view(), name="api-token"),
    path("", include("labeling.api.urls")),
    path("", include("training.api.urls")),
]
