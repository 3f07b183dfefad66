from django.urls import path

from labeling.api import collection

urlpatterns = [
    path("projects/<slug:slug>/collect/", collection.CollectionRunsApi.as_view(), name="api-collect"),
    path(
        "projects/<slug:slug>/collect/queries/", collection.CollectionQueriesApi.as_view(), name="api-collect-queries"
    ),
    path("projects/<slug:slug>/collect/<int:pk>/", collection.CollectionRunApi.as_view(), name="api-collect-run"),
]
