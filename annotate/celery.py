"""The one Celery app. Queues and routing live in settings (CELERY_*)."""

import os
import time

from celery import Celery
from celery.signals import before_task_publish, worker_ready, worker_shutdown

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "annotate.settings.base")

app = Celery("annotate")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# Every message carries its send time, so /metrics can report each queue's oldest message age (annotate/metrics.py).
SENT_AT_HEADER = "annotate_sent_at"


@before_task_publish.connect(weak=False)
def stamp_sent_at(headers: dict | None = None, **_: object) -> None:
    if headers is not None:
        headers.setdefault(SENT_AT_HEADER, time.time())


# A training worker (one consuming the `gpu` queue) reports its CUDA devices when it starts and says when it stops,
# so a run asking for "cuda" is refused at once when no worker up has CUDA (training/services/workers.py). These are
# the only start and stop events a worker has; they call one service each and decide nothing.
TRAINING_QUEUE = "gpu"


def _consumes_training_queue(consumer: object) -> bool:
    queues = getattr(getattr(consumer, "task_consumer", None), "queues", None) or []
    return any(getattr(q, "name", None) == TRAINING_QUEUE for q in queues)


@worker_ready.connect(weak=False)
def report_training_worker(sender: object = None, **_: object) -> None:
    if not _consumes_training_queue(sender):
        return
    from django.db import connections

    from training.services.workers import cuda_probe, training_worker_report

    n, name = cuda_probe()
    training_worker_report(hostname=str(getattr(sender, "hostname", "")), cuda_devices=n, device_name=name)
    connections.close_all()  # the pool may fork again: its children must not share this process's connection


@worker_shutdown.connect(weak=False)
def report_training_worker_stopped(sender: object = None, **_: object) -> None:
    from training.services.workers import training_worker_stopped

    hostname = getattr(sender, "hostname", "")
    if hostname:  # only training workers have a report to close
        training_worker_stopped(hostname=str(hostname))
