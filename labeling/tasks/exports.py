"""Celery tasks: exports. Idempotent (a done export is a no-op; a redelivered one is rewritten)."""

from celery import shared_task

from labeling.services.exports import dataset_export_run, dataset_exports_resume_stale


@shared_task(
    name="default.dataset_export",
    acks_late=True,
    reject_on_worker_lost=True,
    time_limit=2 * 3600,
    soft_time_limit=2 * 3600 - 60,
    ignore_result=True,
)
def dataset_export(export_id: int) -> None:
    # A failure is recorded on the export row (status "failed", error) and raised: the task fails visibly
    # in the worker's log and monitoring. No automatic retry: a retry would fail the same way.
    dataset_export_run(export_id=export_id)


@shared_task(name="default.exports_resume_stale", time_limit=60, soft_time_limit=50)
def resume_stale() -> int:
    """Periodic (celery beat): re-enqueue running exports whose worker died; harmless next to redelivery."""
    return len(dataset_exports_resume_stale())
