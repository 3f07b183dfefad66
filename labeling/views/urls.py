from django.urls import include, path

urlpatterns: list = [
    path("", include("labeling.views.urls_ingest")),
    path("", include("labeling.views.urls_labeling")),
    path("", include("labeling.views.urls_datasets")),
    path("", include("labeling.views.urls_review")),
    path("", include("labeling.views.urls_gold")),
    path("", include("labeling.views.urls_curation")),
    path("", include("labeling.views.urls_imports")),
    path("", include("labeling.views.urls_webhooks")),
    path("", include("labeling.views.urls_collection")),
]
