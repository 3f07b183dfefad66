"""Core Celery tasks."""

from celery import shared_task

from annotate import services


@shared_task(name="default.probe", time_limit=30, soft_time_limit=20, bind=True)
def probe(self, token: str) -> None:
    services.task_probe_record(token=token, worker_hostname=self.request.hostname or "")
