"""Celery tasks: exports. Idempotent (a done export is a no-op; a redelivered one is rewritten)."""

import contextlib

from celery import shared_task

from labeling.services.exports import dataset_export_run


@shared_task(
    name="default.dataset_export",
    acks_late=True,
    reject_on_worker_lost=True,
    time_limit=2 * 3600,
    soft_time_limit=2 * 3600 - 60,
    ignore_result=True,
)
def dataset_export(export_id: int) -> None:
    # A failure is logged and recorded on the export row (status "failed", error); a retry would fail the same way.
    with contextlib.suppress(Exception):
        dataset_export_run(export_id=export_id)
