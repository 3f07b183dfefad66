"""`training_run.finished` for the project's webhooks (labeling.services.webhooks)."""

from __future__ import annotations

from django.db import transaction

from labeling.models import WebhookEvent
from labeling.services.webhooks import webhooks_emit
from training.models import TrainingRun


def run_finished_emit(*, run_id: int) -> None:
    """Called by every path that ends a run (succeeded, failed, cancelled), right after that write."""
    run = TrainingRun.objects.select_related("version").filter(pk=run_id).first()
    if run is None or not run.is_terminal:
        return
    data = {"run": run.pk, "status": run.status, "version": run.version.number, "version_id": run.version_id,
            "architecture": run.architecture, "device": run.device_used, "epochs_done": run.epochs_done,
            "error": run.error}  # fmt: skip
    with transaction.atomic():
        webhooks_emit(project_id=run.version.project_id, event=WebhookEvent.RUN_FINISHED, data=data)
