from django.urls import path

from training.views import jobs, runs

urlpatterns = [
    path("training/", runs.run_list, name="training_list"),
    path("training/versions/<int:version_pk>/start/", runs.run_start, name="training_start"),
    path("training/runs/<int:pk>/", runs.run_detail, name="training_detail"),
    path("training/runs/<int:pk>/data.json", runs.run_detail_json, name="training_detail_json"),
    path("training/runs/<int:pk>/cancel/", runs.run_cancel_view, name="training_cancel"),
    path("training/runs/<int:pk>/predict/", runs.run_predict_view, name="training_predict"),
    path("training/runs/<int:pk>/checkpoint/", runs.run_checkpoint, name="training_checkpoint"),
    path("projects/<slug:slug>/model/", jobs.model_tools, name="model_tools"),
    path("projects/<slug:slug>/model/start/", jobs.model_job_start_view, name="model_job_start"),
    path("model/jobs/<int:pk>/", jobs.model_job_detail, name="model_job"),
    path("model/jobs/<int:pk>/data.json", jobs.model_job_json, name="model_job_json"),
    path("model/jobs/<int:pk>/act/", jobs.model_job_act, name="model_job_act"),
]
