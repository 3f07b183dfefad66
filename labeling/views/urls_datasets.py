"""HTML routes of dataset versions (included from labeling/views/urls.py)."""

from django.urls import path

from labeling.views import datasets

urlpatterns = [
    path("datasets/", datasets.dataset_projects, name="dataset_projects"),
    path("projects/<slug:slug>/datasets/", datasets.dataset_list, name="dataset_list"),
    path("datasets/<int:pk>/", datasets.dataset_detail, name="dataset_detail"),
    path("datasets/<int:pk>/export/", datasets.dataset_export_start, name="dataset_export_start"),
    path("datasets/<int:a>/diff/<int:b>/", datasets.dataset_diff, name="dataset_diff"),
]
