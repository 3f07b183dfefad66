"""Reviewer HTML routes (included from labeling/views/urls.py)."""

from django.urls import path

from labeling.views import review

urlpatterns = [
    path("projects/<slug:slug>/review/", review.review_queue, name="review_queue"),
    path("projects/<slug:slug>/review/<int:item_id>/", review.review_act, name="review_act"),
    path("projects/<slug:slug>/annotators/", review.annotators, name="annotators"),
    path("projects/<slug:slug>/annotators/<int:user_id>/status/", review.annotator_status, name="annotator_status"),
    path("projects/<slug:slug>/annotators/recompute/", review.recompute, name="project_recompute"),
    path("projects/<slug:slug>/annotators/<int:user_id>/boxes/", review.annotator_boxes_view, name="annotator_boxes"),
    path("projects/<slug:slug>/quality/", review.quality, name="quality"),
]
