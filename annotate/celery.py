"""The one Celery app. Queues and routing live in settings (CELERY_*)."""

import os
import time

from celery import Celery
from celery.signals import before_task_publish

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
