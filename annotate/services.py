"""Core writes: the probe record, and health checks of the services we depend on."""

from __future__ import annotations

import os

from django.conf import settings
from django.db import connection

from annotate.models import TaskProbe


def task_probe_record(*, token: str, worker_hostname: str) -> TaskProbe:
    probe, _ = TaskProbe.objects.get_or_create(token=token, defaults={"worker_hostname": worker_hostname})
    return probe


def check_database() -> tuple[bool, str]:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:
        return False, f"{type(exc).__name__}: {exc}".strip()[:300]
    return True, connection.vendor


def check_broker(timeout: float = 2.0) -> tuple[bool, str]:
    """Open a fresh connection to the configured broker (never a pooled one that may be stale)."""
    from kombu import Connection

    url = settings.CELERY_BROKER_URL
    options = dict(settings.CELERY_BROKER_TRANSPORT_OPTIONS)
    if url.startswith("filesystem://"):
        folder = options["data_folder_in"]
        if not os.access(folder, os.W_OK):
            return False, f"broker folder {folder} is not writable"
        return True, "filesystem"
    try:
        with Connection(url, connect_timeout=timeout, transport_options=options) as conn:
            conn.ensure_connection(max_retries=1, timeout=timeout)
            driver = conn.transport.driver_type
    except Exception as exc:
        return False, f"{type(exc).__name__}: {exc}".strip()[:300]
    return True, str(driver)
