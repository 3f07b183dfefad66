"""Model features from the browser as background jobs (`ModelJob`): this module is their one writer.

`model_job_start` checks the request (the same rules as the CLI commands: a succeeded run of this project for
predictions, a version for label errors), creates the job and enqueues `gpu.model_job` after commit. The worker's
`model_job_execute` claims it (queued -> running), calls the very service the CLI command calls, and always ends
it in a visible state: done with its result, or failed with the reason. The CLI commands stay as they are.
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from annotate.exceptions import Conflict, ServiceError
from labeling.models import DatasetVersion, Project
from training.models import ModelJob, TrainingRun

log = logging.getLogger(__name__)
LABEL_ERROR_FOLDS = 3  # a demo-sized version has a handful of images per class
MAX_SUSPECTS_SHOWN = 200


def model_job_start(
    *, kind: str, project: Project, user: Any = None, run: TrainingRun | None = None,
    version: DatasetVersion | None = None,
) -> ModelJob:  # fmt: skip
    """A queued job (ServiceError when the request cannot work; Conflict when the same job is already queued or
    running)."""
    from training.services.runs import run_predict_check

    if kind not in ModelJob.Kind.values:
        raise ServiceError(f"Unknown job {kind!r}.", code="invalid_job")
    if kind == ModelJob.Kind.PREDICT:
        if run is None:
            raise ServiceError(_("Train a model first: predictions need a succeeded training run."), code="no_run")
        run_predict_check(run=run, project=project)
    if kind == ModelJob.Kind.LABEL_ERRORS:
        if version is None or version.project_id != project.pk:
            raise ServiceError(_("Create a dataset version first: label errors are found in a version."),
                               code="no_version")  # fmt: skip
        if len(version.classes) < 2:
            raise ServiceError(_("A dataset version needs at least 2 classes to train on."), code="too_few_classes")
    if kind in (ModelJob.Kind.PREDICT, ModelJob.Kind.ZERO_SHOT) and project.task_type == Project.TaskType.BOXES:
        raise ServiceError(_("The model votes on verify and classify projects only."), code="unsupported_task")
    active = ModelJob.objects.filter(project=project, kind=kind, status__in=[ModelJob.Status.QUEUED,
                                                                              ModelJob.Status.RUNNING])  # fmt: skip
    if active.exists():
        raise Conflict(_("This job is already queued or running."), code="job_running")
    job = ModelJob.objects.create(project=project, kind=kind, run=run, version=version, created_by=user)
    transaction.on_commit(lambda: _enqueue(job.pk))
    return job


def _enqueue(job_id: int) -> None:
    from training.tasks import model_job

    model_job.delay(job_id)


def _claim(job_id: int) -> ModelJob | None:
    with transaction.atomic():
        job = (
            ModelJob.objects.select_for_update(of=("self",))
            .select_related("project", "run", "version")
            .filter(pk=job_id)
            .first()
        )  # of=self: PostgreSQL locks no row on the nullable side of the outer joins
        if job is None or job.status != ModelJob.Status.QUEUED:
            return None
        job.status, job.started_at, job.progress = ModelJob.Status.RUNNING, timezone.now(), 0.1
        job.save(update_fields=["status", "started_at", "progress"])
    return job


def model_job_execute(*, job_id: int) -> ModelJob | None:
    """Run a queued job to its end (None when it is not queued: another worker has it, or it is finished)."""
    job = _claim(job_id)
    if job is None:
        return None
    try:
        result = _run(job)
    except ServiceError as exc:
        return _finish(job, ModelJob.Status.FAILED, error=exc.message)
    except Exception as exc:  # the job records the failure; the task does not retry a deterministic error
        log.exception("model job %s failed", job_id)
        return _finish(job, ModelJob.Status.FAILED, error=f"{type(exc).__name__}: {exc}"[:2000])
    return _finish(job, ModelJob.Status.DONE, result=result)


def _finish(job: ModelJob, status: str, *, result: Any = None, error: str = "") -> ModelJob:
    job.status, job.result, job.error, job.finished_at = status, result, error, timezone.now()
    job.progress = 1.0
    job.save(update_fields=["status", "result", "error", "finished_at", "progress"])
    return job


def _run(job: ModelJob) -> dict[str, Any]:
    from training import services

    if job.kind == ModelJob.Kind.PREDICT:
        assert job.run is not None
        return services.predictions_refresh(run=job.run, project=job.project, vote=True)
    if job.kind == ModelJob.Kind.EMBEDDINGS:
        return {"computed": services.embeddings_compute(project=job.project)}
    if job.kind == ModelJob.Kind.ZERO_SHOT:
        return services.zero_shot_apply(project=job.project).to_dict()
    assert job.version is not None
    report = services.label_errors_find(version=job.version, folds=_folds(job.version), flag=False)
    out = report.to_dict()
    out["items"] = out["items"][:MAX_SUSPECTS_SHOWN]
    return out


def _folds(version: DatasetVersion) -> int:
    counts = [int(c) for c in (version.stats.get("per_class") or {}).values() if isinstance(c, int)]
    counts += [int(c["total"]) for c in (version.stats.get("per_class") or {}).values() if isinstance(c, dict)]
    smallest = min((c for c in counts if c), default=LABEL_ERROR_FOLDS)
    return max(2, min(5, LABEL_ERROR_FOLDS if smallest >= LABEL_ERROR_FOLDS else smallest))


def predict_summary(result: dict[str, Any] | None) -> tuple[int, str]:
    """(items predicted, why the model is or is not a voter) from a predict job's result."""
    if not result:
        return 0, ""
    voter = result.get("voter")
    if result.get("voter_error"):
        return int(result.get("predicted") or 0), _("Not a voter yet: %(reason)s") % {"reason": result["voter_error"]}
    if voter:
        return int(result.get("predicted") or 0), _(
            "The model votes: measured on %(n)s checked items (accuracy %(acc).2f)."
        ) % {"n": voter.get("checked", 0), "acc": float(voter.get("accuracy") or 0.0)}
    return int(result.get("predicted") or 0), ""


def label_error_act(*, job: ModelJob, item_id: int, action: str, user: Any) -> str:
    """Act on one suspect of a label-error job: "relabel" to the suggested category (a reviewer's fix) or
    "review" (send it to the review queue). Returns the action done."""
    from labeling.models import Category, Item
    from labeling.services.curation import items_send_to_review
    from labeling.services.quality.review import review_fix

    if job.kind != ModelJob.Kind.LABEL_ERRORS or job.status != ModelJob.Status.DONE:
        raise ServiceError(_("This job lists no label errors."), code="invalid_job")
    suspect = next((s for s in (job.result or {}).get("items", []) if s.get("item") == item_id), None)
    if suspect is None:
        raise ServiceError(_("This item is not a suspect of this job."), code="not_a_suspect")
    item = Item.objects.get(pk=item_id, project=job.project)
    if action == "review":
        items_send_to_review(project=job.project, item_ids=[item.pk], user=user)
        return action
    if action != "relabel":
        raise ServiceError(f"Unknown action {action!r}.", code="invalid_action")
    category = Category.objects.filter(project=job.project, name=suspect["suggested"]).first()
    if category is None:
        raise ServiceError(_("The suggested category no longer exists."), code="no_category")
    if job.project.task_type != Project.TaskType.CLASSIFY:
        raise ServiceError(_("Relabel works on classify projects; send the item to review instead."),
                           code="unsupported_task")  # fmt: skip
    review_fix(item=item, reviewer=user, label=category.pk)
    return action
