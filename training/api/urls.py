from django.urls import path

from training.api.embeddings import SimilarImagesApi
from training.api.runs import RunCancelApi, RunDetailApi, RunListApi, RunPredictApi, RunStartApi

urlpatterns = [
    path("training/runs/", RunListApi.as_view(), name="api-training-runs"),
    path("training/runs/start/", RunStartApi.as_view(), name="api-training-start"),
    path("training/runs/<int:pk>/", RunDetailApi.as_view(), name="api-training-run"),
    path("training/runs/<int:pk>/cancel/", RunCancelApi.as_view(), name="api-training-cancel"),
    path("training/runs/<int:pk>/predict/", RunPredictApi.as_view(), name="api-training-predict"),
    path("training/images/<int:image_id>/similar/", SimilarImagesApi.as_view(), name="api-training-similar"),
]
