"""Creating, enqueueing, cancelling and re-enqueueing training runs (execution is in execute.py)."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from annotate.exceptions import Conflict, ServiceError
from annotate.i18n import status_text
from labeling.models import DatasetVersion, Project
from training.ml.config import TrainConfig, default_config_for
from training.ml.transfer_policy import MODES
from training.models import TrainingRun
from training.services.events import run_finished_emit
from training.services.transfer_choice import transfer_apply

# What a researcher may set; everything else (checkpoint_dir, resume, initial_weights: local paths) is ours.
USER_FIELDS = frozenset({
    "epochs", "batch_size", "lr", "lr_schedule", "warmup_epochs", "lr_step_size", "lr_gamma", "weight_decay",
    "momentum", "optimizer", "image_size", "augmentation", "label_smoothing", "seed", "device", "workers",
    "amp", "channels_last", "max_train_batches", "pretrained", "probe_epochs", "backbone_lr_scale", "world_size",
})  # fmt: skip
LIMITS = {"epochs": 1000, "batch_size": 4096, "workers": 16, "probe_epochs": 1000, "world_size": 64}


def run_config(*, architecture: str, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """The validated TrainConfig dict for a run; ServiceError on unknown fields or impossible values."""
    overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
    unknown = sorted(set(overrides) - USER_FIELDS)
    if unknown:
        raise ServiceError(f"These settings cannot be set: {', '.join(unknown)}.", code="invalid_config")
    for key, limit in LIMITS.items():
        if key in overrides and int(overrides[key]) > limit:
            raise ServiceError(f"{key} must be at most {limit}.", code="invalid_config")
    try:
        return default_config_for(architecture, **overrides).to_dict()
    except (TypeError, ValueError) as exc:
        raise ServiceError(str(exc), code="invalid_config") from exc


def run_create(
    *,
    version: DatasetVersion,
    created_by: Any = None,
    architecture: str = "small_cnn",
    overrides: dict[str, Any] | None = None,
    enqueue: bool = True,
    transfer: str = "auto",
) -> TrainingRun:
    """A queued run with the per-architecture defaults plus `overrides`; enqueued on `gpu` after commit. A
    pretrained run's input size and fine-tune epochs follow the data (transfer_choice.py; `transfer` = auto, or
    the researcher's probe / fine_tune)."""
    if len(version.classes) < 2:
        raise ServiceError(_("A dataset version needs at least 2 classes to train on."), code="too_few_classes")
    if transfer not in MODES:
        raise ServiceError(f"transfer must be one of {', '.join(MODES)}.", code="invalid_config")
    config = run_config(architecture=architecture, overrides=overrides)
    choice = transfer_apply(version=version, architecture=architecture, config=config, requested=transfer)
    if enqueue and config["device"] == "cuda":
        _cuda_check()
    run = TrainingRun.objects.create(
        version=version,
        created_by=created_by,
        architecture=architecture,
        config=config,
        device_requested=config["device"],
        world_size=config["world_size"],  # the run's setting (batch_size is global), never the worker's GPU count
        epochs_total=TrainConfig.from_dict(config).total_epochs,
        transfer_choice=choice.to_dict() if choice else None,
    )
    if enqueue:
        run_enqueue(run=run)
    return run


def _cuda_check() -> None:
    """A run that must train on CUDA is refused when the training workers up now have none (what they reported at
    their start); with no report (no worker yet) it is accepted, and fails at its start on a worker without CUDA."""
    from training.services.workers import cuda_workers

    has_cuda, names = cuda_workers()
    if has_cuda is False:
        raise ServiceError(
            _("No training worker has CUDA (running now: %(workers)s): choose the device auto or cpu.")
            % {"workers": ", ".join(names)},
            code="no_cuda_worker",
        )


def run_enqueue(*, run: TrainingRun, queue: str | None = None) -> None:
    """Send `gpu.train_run` after the current transaction commits (`queue` overrides the routing, for tests)."""
    from training.tasks import train_run

    options = {"queue": queue} if queue else {}
    transaction.on_commit(lambda: train_run.apply_async(args=[run.pk], **options))


def run_predict_check(*, run: TrainingRun, project: Project) -> None:
    """The rule for feeding a run back into labeling: a succeeded run, on its own project's categories."""
    if run.status != TrainingRun.Status.SUCCEEDED:
        raise ServiceError(
            _("Run %(id)s has no trained model yet (status %(status)s).")
            % {"id": run.pk, "status": status_text(run.status)},
            code="run_not_ready",
        )
    if run.version.project_id != project.pk:
        raise ServiceError(_("This run was trained on another project's categories."), code="wrong_project")


def run_predict_enqueue(*, run: TrainingRun, project: Project, vote: bool = True) -> None:
    """Predict the project's items with a succeeded run (priority, then the bounded vote), on `gpu` after
    commit. The one place the HTML view and the API enqueue predictions (ServiceError when not allowed)."""
    from training.tasks import predict_run

    run_predict_check(run=run, project=project)
    run_pk, project_pk = run.pk, project.pk
    transaction.on_commit(lambda: predict_run.delay(run_pk, project_pk, vote))


def run_cancel(*, run: TrainingRun) -> TrainingRun:
    """Queued: cancelled now. Running: the worker stops at the next batch boundary. Finished: Conflict."""
    with transaction.atomic():
        run = TrainingRun.objects.select_for_update().get(pk=run.pk)
        if run.is_terminal:
            raise Conflict(
                _("Run %(id)s has already finished (%(status)s).") % {"id": run.pk, "status": status_text(run.status)},
                code="run_finished",
            )
        run.cancel_requested = True
        fields = ["cancel_requested", "updated_at"]
        if run.status == TrainingRun.Status.QUEUED and not run.lease_owner:
            run.status = TrainingRun.Status.CANCELLED
            run.finished_at = timezone.now()
            fields += ["status", "finished_at"]
        run.save(update_fields=fields)
        if run.is_terminal:
            run_finished_emit(run_id=run.pk)
    return run


def runs_resume_stale(*, queue: str | None = None) -> list[int]:
    """Re-enqueue runs whose worker died (status running, lease expired); the lease makes this safe to call
    any time, even while the broker also redelivers the original message."""
    stale = list(
        TrainingRun.objects.filter(status=TrainingRun.Status.RUNNING, lease_expires_at__lt=timezone.now()).values_list(
            "pk", flat=True
        )
    )
    for pk in stale:
        run_enqueue(run=TrainingRun(pk=pk), queue=queue)
    return stale
