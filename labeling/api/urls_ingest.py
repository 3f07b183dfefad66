from django.urls import path

from labeling.api import ingest

urlpatterns = [
    path("projects/<slug:slug>/ingest/batches/", ingest.BatchListCreateApi.as_view(), name="api-ingest-batches"),
    path("ingest/batches/<int:pk>/", ingest.BatchDetailApi.as_view(), name="api-ingest-batch"),
    path("ingest/batches/<int:pk>/retry/", ingest.BatchRetryApi.as_view(), name="api-ingest-batch-retry"),
    path("projects/<slug:slug>/images/", ingest.ImageListApi.as_view(), name="api-project-images"),
    path("projects/<slug:slug>/categories/", ingest.CategoryListCreateApi.as_view(), name="api-categories"),
    path("projects/<slug:slug>/categories/import/", ingest.CategoryImportApi.as_view(), name="api-categories-import"),
    path("projects/<slug:slug>/categories/<int:pk>/", ingest.CategoryDetailApi.as_view(), name="api-category"),
]
