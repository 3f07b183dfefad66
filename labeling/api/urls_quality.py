"""Routes of the quality-control API (included from labeling/api/urls.py)."""

from django.urls import path

from labeling.api import quality

urlpatterns = [
    path("projects/<slug:slug>/review/", quality.ReviewQueueApi.as_view(), name="api-review-queue"),
    path("projects/<slug:slug>/review/<int:item_id>", quality.ReviewActionApi.as_view(), name="api-review-action"),
    path("projects/<slug:slug>/annotators/", quality.AnnotatorListApi.as_view(), name="api-annotators"),
    path(
        "projects/<slug:slug>/annotators/<int:user_id>/status",
        quality.AnnotatorStatusApi.as_view(),
        name="api-annotator-status",
    ),
    path("projects/<slug:slug>/quality/", quality.QualityStatsApi.as_view(), name="api-quality-stats"),
]
