"""Celery tasks: candidate collection and contributions (queue `ingest`, by the `ingest.` name prefix)."""

from celery import shared_task

from labeling.services.collection.contributions import contribution_ingest
from labeling.services.collection.run import collection_resume_stale, collection_run


@shared_task(
    name="ingest.collect_run",
    acks_late=True,
    reject_on_worker_lost=True,
    time_limit=12 * 3600,
    soft_time_limit=12 * 3600 - 300,
)
def collect_run(run_id: int) -> None:
    """Search, then ingest through the normal URL batch; a redelivered message resumes (queries done are kept)."""
    collection_run(run_id=run_id)


@shared_task(
    name="ingest.contribution_ingest",
    acks_late=True,
    reject_on_worker_lost=True,
    time_limit=6 * 3600,
    soft_time_limit=6 * 3600 - 300,
)
def contribution_run(contribution_id: int) -> None:
    """Ingest a contribution's upload batch (normal validation and dedupe), then credit its images."""
    contribution_ingest(contribution_id=contribution_id)


@shared_task(name="default.collect_resume_stale", time_limit=60, soft_time_limit=50)
def resume_stale() -> int:
    """Periodic (celery beat): re-enqueue unfinished runs whose worker died; harmless next to redelivery."""
    return len(collection_resume_stale())
