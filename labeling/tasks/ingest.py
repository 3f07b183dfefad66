"""Celery tasks: ingest (queue `ingest`, routed by the `ingest.` name prefix)."""

from celery import shared_task

from labeling.services.ingestion import batch_resume_stale, batch_run


@shared_task(
    name="ingest.run_batch",
    acks_late=True,
    reject_on_worker_lost=True,
    time_limit=6 * 3600,
    soft_time_limit=6 * 3600 - 300,
)
def run_batch(batch_id: int) -> None:
    """Run or resume one batch; a redelivered message continues from the entries still pending."""
    batch_run(batch_id=batch_id)


@shared_task(name="default.ingest_resume_stale", time_limit=60, soft_time_limit=50)
def resume_stale() -> int:
    """Periodic (celery beat): re-enqueue running batches whose worker died; harmless next to redelivery."""
    return len(batch_resume_stale())
