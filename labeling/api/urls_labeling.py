"""Routes of the volunteer labeling API and the researcher project API (included from labeling/api/urls.py)."""

from django.urls import path

from labeling.api import labeling, projects

urlpatterns = [
    path("projects/", labeling.VolunteerProjectListApi.as_view(), name="api-projects"),
    path("projects/create/", projects.ResearcherProjectCreateApi.as_view(), name="api-project-create"),
    path("projects/owned/", projects.ResearcherProjectListApi.as_view(), name="api-projects-owned"),
    path("projects/<slug:slug>/", projects.ResearcherProjectDetailApi.as_view(), name="api-project-detail"),
    path("projects/<slug:slug>/next", labeling.NextItemsApi.as_view(), name="api-label-next"),
    path("projects/<slug:slug>/answers", labeling.SubmitAnswersApi.as_view(), name="api-label-answers"),
    path(
        "projects/<slug:slug>/answers/<int:annotation_id>",
        labeling.MyAnswerDetailApi.as_view(),
        name="api-label-answer-detail",
    ),
    path("projects/<slug:slug>/appeal", labeling.AppealApi.as_view(), name="api-label-appeal"),
    path("projects/<slug:slug>/release", labeling.ReleaseLeasesApi.as_view(), name="api-label-release"),
    path("projects/<slug:slug>/skip", labeling.SkipItemApi.as_view(), name="api-label-skip"),
]
