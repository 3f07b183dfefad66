"""Model tools in the browser: start a model job (predict, embeddings, label errors, zero-shot), follow it, and
act on the label-error suspects it lists (training/services/jobs.py does the work)."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from annotate.exceptions import ServiceError
from annotate.inputs import ascii_int
from annotate.roles import Role, role_required
from labeling.models import DatasetVersion
from labeling.selectors.projects import one_or_404, project_for_researcher, scoped_to_researcher
from training.models import ModelJob, TrainingRun
from training.services.jobs import label_error_act, model_job_start, predict_summary


def jobs_for_researcher(user):
    return scoped_to_researcher(ModelJob.objects.select_related("project", "run", "version"), user,
                                project_path="project")  # fmt: skip


def _latest(project):
    version = DatasetVersion.objects.filter(project=project).order_by("-id").first()
    run = (
        TrainingRun.objects.filter(version__project=project, status=TrainingRun.Status.SUCCEEDED)
        .order_by("-id")
        .first()
    )
    return version, run


@require_GET
@role_required(Role.RESEARCHER)
def model_tools(request: HttpRequest, slug: str) -> HttpResponse:
    project = project_for_researcher(request.user, slug)
    version, run = _latest(project)
    jobs = list(ModelJob.objects.filter(project=project).select_related("run", "version")[:20])
    for job in jobs:
        job.predicted, job.voter_text = predict_summary(job.result) if job.kind == ModelJob.Kind.PREDICT else (0, "")
    context = {"project": project, "version": version, "run": run, "jobs": jobs, "kinds": ModelJob.Kind}
    return render(request, "training/model_tools.html", context)


@require_POST
@role_required(Role.RESEARCHER)
def model_job_start_view(request: HttpRequest, slug: str) -> HttpResponse:
    project = project_for_researcher(request.user, slug)
    version, run = _latest(project)
    kind = request.POST.get("kind", "")
    try:
        job = model_job_start(kind=kind, project=project, user=request.user, run=run, version=version)
    except ServiceError as exc:
        messages.error(request, exc.message)
        return redirect("model_tools", slug=slug)
    messages.success(request, _("Job queued: this page follows it."))
    return redirect("model_job", pk=job.pk)


@require_GET
@role_required(Role.RESEARCHER)
def model_job_detail(request: HttpRequest, pk: int) -> HttpResponse:
    job = one_or_404(jobs_for_researcher(request.user), pk, what="job")
    predicted, voter_text = predict_summary(job.result) if job.kind == ModelJob.Kind.PREDICT else (0, "")
    suspects = (job.result or {}).get("items", []) if job.kind == ModelJob.Kind.LABEL_ERRORS else []
    context = {"job": job, "project": job.project, "predicted": predicted, "voter_text": voter_text,
               "suspects": suspects, "relabel": job.project.task_type == "classify"}  # fmt: skip
    return render(request, "training/model_job.html", context)


@require_GET
@role_required(Role.RESEARCHER)
def model_job_json(request: HttpRequest, pk: int) -> JsonResponse:
    job = one_or_404(jobs_for_researcher(request.user), pk, what="job")
    return JsonResponse({"id": job.pk, "status": job.status, "progress": job.progress, "error": job.error})


@require_POST
@role_required(Role.RESEARCHER)
def model_job_act(request: HttpRequest, pk: int) -> HttpResponse:
    job = one_or_404(jobs_for_researcher(request.user), pk, what="job")
    try:
        item_id = ascii_int(request.POST.get("item", "")) or 0
        done = label_error_act(job=job, item_id=item_id, action=request.POST.get("action", ""), user=request.user)
    except (ServiceError, ValueError) as exc:
        messages.error(request, getattr(exc, "message", str(exc)))
    else:
        text = _("Item %(id)s relabelled.") if done == "relabel" else _("Item %(id)s sent to review.")
        messages.success(request, text % {"id": item_id})
    return redirect("model_job", pk=pk)
