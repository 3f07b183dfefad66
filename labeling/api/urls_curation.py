"""Routes of the curation API (included from labeling/api/urls.py)."""

from django.urls import path

from labeling.api import curation

urlpatterns = [
    path("projects/<slug:slug>/items/", curation.CurationItemListApi.as_view(), name="api-curation-items"),
    path("projects/<slug:slug>/items/bulk", curation.CurationBulkApi.as_view(), name="api-curation-bulk"),
    path(
        "projects/<slug:slug>/items/<int:item_id>", curation.CurationItemDetailApi.as_view(), name="api-curation-item"
    ),
]
