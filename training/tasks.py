"""Celery tasks of the training app: ids in, one service call, nothing else.

`gpu.*` tasks go to the `gpu` queue (one worker process per GPU machine: `-Q gpu -c 1`). `train_run` is
acks_late + reject_on_worker_lost: a worker that dies mid-run leaves the message unacknowledged, the broker
redelivers it, and `run_execute` resumes from the run's last checkpoint under the DB lease.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator
from contextlib import contextmanager

from celery import shared_task

TRAIN_TIME_LIMIT = 7 * 24 * 3600


@contextmanager
def child_processes_allowed() -> Iterator[None]:
    """Celery's prefork pool runs tasks in daemonic processes, which multiprocessing forbids to have children;
    training needs them (DataLoader workers, DDP ranks). They are joined before the task returns, and die
    with the pool process (DataLoader workers watch their parent), so lifting the flag for the task is safe."""
    config = multiprocessing.current_process()._config  # type: ignore[attr-defined]
    daemon = config.get("daemon")
    config["daemon"] = False
    try:
        yield
    finally:
        if daemon is not None:
            config["daemon"] = daemon


@shared_task(
    name="gpu.train_run", acks_late=True, reject_on_worker_lost=True, max_retries=0,
    time_limit=TRAIN_TIME_LIMIT, soft_time_limit=TRAIN_TIME_LIMIT - 300,
)  # fmt: skip
def train_run(run_id: int) -> str:
    from training.services import run_execute

    with child_processes_allowed():
        return run_execute(run_id=run_id)


@shared_task(name="gpu.predict_run", acks_late=True, time_limit=6 * 3600, soft_time_limit=6 * 3600 - 120)
def predict_run(run_id: int, project_id: int, vote: bool = True) -> dict:
    from labeling.models import Project
    from training.models import TrainingRun
    from training.services import predictions_refresh

    run = TrainingRun.objects.select_related("version").get(pk=run_id)
    with child_processes_allowed():
        return predictions_refresh(run=run, project=Project.objects.get(pk=project_id), vote=vote)


@shared_task(name="default.training_resume_stale", time_limit=60, soft_time_limit=50)
def resume_stale() -> int:
    """Periodic (celery beat): re-enqueue runs whose worker died; harmless next to broker redelivery."""
    from training.services import runs_resume_stale

    return len(runs_resume_stale())


@shared_task(name="gpu.model_job", acks_late=True, time_limit=6 * 3600, soft_time_limit=6 * 3600 - 120)
def model_job(job_id: int) -> str:
    """A model feature started from the browser (training/services/jobs.py)."""
    from training.services.jobs import model_job_execute

    with child_processes_allowed():
        job = model_job_execute(job_id=job_id)
    return job.status if job is not None else "not queued"
