from django.urls import path

from labeling.api import datasets as api

urlpatterns = [
    path("projects/<slug:slug>/datasets/", api.DatasetListApi.as_view(), name="api-dataset-list"),
    path("projects/<slug:slug>/datasets/create/", api.DatasetCreateApi.as_view(), name="api-dataset-create"),
    path("datasets/<int:pk>/", api.DatasetDetailApi.as_view(), name="api-dataset-detail"),
    path("datasets/<int:a>/diff/<int:b>/", api.DatasetDiffApi.as_view(), name="api-dataset-diff"),
    path("datasets/<int:pk>/exports/", api.ExportCreateApi.as_view(), name="api-dataset-export-create"),
    path("exports/<int:pk>/", api.ExportDetailApi.as_view(), name="api-export-detail"),
    path("exports/<int:pk>/download/", api.ExportDownloadApi.as_view(), name="api-export-download"),
]
