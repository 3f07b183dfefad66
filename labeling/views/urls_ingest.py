"""HTML routes of ingestion and media (included from labeling/views/urls.py)."""

from django.urls import path, re_path

from labeling.views import ingest, media

urlpatterns = [
    path("projects/<slug:slug>/categories/", ingest.project_categories, name="project_categories"),
    path("projects/<slug:slug>/categories/<int:pk>/edit/", ingest.category_edit, name="category_edit"),
    path("projects/<slug:slug>/ingest/", ingest.project_ingest, name="project_ingest"),
    path("projects/<slug:slug>/images/", ingest.project_images, name="project_images"),
    path("ingest/batches/<int:pk>/", ingest.batch_detail, name="batch_detail"),
    path("ingest/batches/<int:pk>/retry/", ingest.batch_retry_view, name="batch_retry"),
    path("ingest/batches/<int:pk>/status.json", ingest.batch_status, name="batch_status"),
    re_path(r"^media/image/(?P<sha256>[0-9a-f]{64})$", media.image_original, name="media_image"),
    re_path(r"^media/thumb/(?P<sha256>[0-9a-f]{64})$", media.image_thumbnail, name="media_thumbnail"),
]
