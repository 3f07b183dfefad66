from django.urls import path

from training.views import runs

urlpatterns = [
    path("training/", runs.run_list, name="training_list"),
    path("training/versions/<int:version_pk>/start/", runs.run_start, name="training_start"),
    path("training/runs/<int:pk>/", runs.run_detail, name="training_detail"),
    path("training/runs/<int:pk>/data.json", runs.run_detail_json, name="training_detail_json"),
    path("training/runs/<int:pk>/cancel/", runs.run_cancel_view, name="training_cancel"),
    path("training/runs/<int:pk>/predict/", runs.run_predict_view, name="training_predict"),
    path("training/runs/<int:pk>/checkpoint/", runs.run_checkpoint, name="training_checkpoint"),
]
