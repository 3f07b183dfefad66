"""Training pages: run list, start form, detail (curves, confusion heat map, per-class table), downloads."""

from __future__ import annotations

from django.contrib import messages
from django.core.files.storage import default_storage
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from annotate.exceptions import ServiceError
from annotate.roles import Role, role_required
from annotate.serving import Delivery, stored_file_response
from training.models import ModelJob, TrainingRun
from training.selectors import (
    run_epochs,
    run_for_researcher,
    run_mistake_gallery,
    run_queued_message,
    runs_for_researcher,
    version_for_researcher,
    versions_for_researcher,
)
from training.services import run_cancel, run_create
from training.services.jobs import model_job_start
from training.views.forms import FIELDS, RunStartForm, arch_defaults


@require_GET
@role_required(Role.RESEARCHER)
def run_list(request: HttpRequest) -> HttpResponse:
    runs = runs_for_researcher(request.user)[:200]
    versions = versions_for_researcher(request.user).order_by("-created_at")[:50]
    return render(request, "training/run_list.html", {"runs": runs, "versions": versions})


@require_http_methods(["GET", "POST"])
@role_required(Role.RESEARCHER)
def run_start(request: HttpRequest, version_pk: int) -> HttpResponse:
    version = version_for_researcher(request.user, version_pk)
    form = RunStartForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            with transaction.atomic():
                run = run_create(
                    version=version, created_by=request.user, architecture=data["architecture"],
                    overrides={f: data[f] for f in FIELDS},
                )  # fmt: skip
        except ServiceError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, run_queued_message(run))
            return redirect("training_detail", pk=run.pk)
    context = {"form": form, "version": version, "defaults": arch_defaults()}
    return render(request, "training/run_start.html", context)


def _run_json(run: TrainingRun) -> dict:
    return {
        "id": run.pk,
        "status": run.status,
        "cancel_requested": run.cancel_requested,
        "epochs_total": run.epochs_total,
        "epochs_done": run.epochs_done,
        "device_used": run.device_used,
        "epochs": run_epochs(run),
        "final_metrics": run.final_metrics,
        "log_tail": run.log_tail,
        "error": run.error,
    }


@require_GET
@role_required(Role.RESEARCHER)
def run_detail(request: HttpRequest, pk: int) -> HttpResponse:
    run = run_for_researcher(request.user, pk)
    metrics = run.final_metrics or {}
    context = {
        "run": run,
        "metrics": metrics,
        "initial": _run_json(run),
        "cpu_warning": run.device_used == "cpu",
        "mistakes": run_mistake_gallery(run),
    }
    return render(request, "training/run_detail.html", context)


@require_GET
@role_required(Role.RESEARCHER)
def run_detail_json(request: HttpRequest, pk: int) -> JsonResponse:
    return JsonResponse(_run_json(run_for_researcher(request.user, pk)))


@require_POST
@role_required(Role.RESEARCHER)
def run_cancel_view(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        run_cancel(run=run_for_researcher(request.user, pk))
        messages.success(request, _("Cancel requested: the run stops at the next batch."))
    except ServiceError as exc:
        messages.error(request, exc.message)
    return redirect("training_detail", pk=pk)


@require_POST
@role_required(Role.RESEARCHER)
def run_predict_view(request: HttpRequest, pk: int) -> HttpResponse:
    run = run_for_researcher(request.user, pk)
    try:  # a job the page follows to its result (items predicted, and why the model is or is not a voter)
        job = model_job_start(kind=ModelJob.Kind.PREDICT, project=run.version.project, user=request.user, run=run)
    except ServiceError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Predictions queued: uncertain items will be served first."))
        return redirect("model_job", pk=job.pk)
    return redirect("training_detail", pk=pk)


@require_GET
@role_required(Role.RESEARCHER)
def run_checkpoint(request: HttpRequest, pk: int) -> HttpResponse:
    run = run_for_researcher(request.user, pk)
    if not run.checkpoint or not default_storage.exists(run.checkpoint):
        raise Http404("This run has no checkpoint.")
    filename = f"run-{run.pk}-{run.architecture}.pt"
    delivery = Delivery(content_type="application/octet-stream", filename=filename, attachment=True)
    return stored_file_response(run.checkpoint, delivery)
