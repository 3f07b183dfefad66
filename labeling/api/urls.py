from django.urls import include, path

urlpatterns: list = [
    path("", include("labeling.api.urls_ingest")),
    path("", include("labeling.api.urls_labeling")),
    path("", include("labeling.api.urls_datasets")),
    path("", include("labeling.api.urls_quality")),
    path("", include("labeling.api.urls_gold")),
    path("", include("labeling.api.urls_curation")),
    path("", include("labeling.api.urls_imports")),
    path("", include("labeling.api.urls_webhooks")),
    path("", include("labeling.api.urls_collection")),
]
