"""Export failures are never swallowed (issue 17, finding 5).

`labeling/tasks/exports.py` wrapped the run in `suppress(Exception)`, and only the file-writing part of the
runner recorded a failure: a database error after the write left the export RUNNING while the task
reported success. Faults are injected in PostgreSQL itself (a trigger), never by patching our code.
"""

from __future__ import annotations

import threading
import time

import pytest
from django.core.files.storage import default_storage

from labeling.models import DatasetExport
from labeling.services.datasets import dataset_version_create
from labeling.services.exports import dataset_export_request
from labeling.tasks.exports import dataset_export
from tests.faults.faults_db import trigger_fault
from tests.helpers.services import require_postgres
from tests.labeling.datasets import factories as f

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def export(make_user):
    require_postgres()
    owner = make_user("exporter", role="researcher")
    project = f.project(owner, slug="exp-faults", classes=("cat", "dog"))
    f.classify_images(project, [make_user(f"ev{i}") for i in range(3)], {"cat": 3, "dog": 2})
    version = dataset_version_create(project=project)
    return dataset_export_request(version=version, fmt="csv", enqueue=False)


def _exports_dir(export: DatasetExport) -> list[str]:
    folder = f"exports/{export.version.project_id}/{export.version_id}"
    try:
        return default_storage.listdir(folder)[1]
    except FileNotFoundError:
        return []


def test_a_database_error_after_the_write_fails_the_export_and_the_task(export):
    fault = trigger_fault(table="labeling_datasetexport", event="UPDATE", when="NEW.status = 'done'")
    with fault, pytest.raises(Exception, match="injected fault"):
        dataset_export(export.id)  # the task itself: it must raise, not report success
    export.refresh_from_db()
    assert export.status == DatasetExport.Status.FAILED and "injected fault" in export.error
    assert export.finished_at is not None
    assert _exports_dir(export) == []  # the written file is not left behind without a row


def test_a_database_error_during_the_write_fails_the_export_and_the_task(export):
    # The first progress report of a run is always written: a fault on that update hits mid-export.
    fault = trigger_fault(
        table="labeling_datasetexport", event="UPDATE", when="NEW.status = 'running' AND OLD.status = 'running'"
    )
    with fault, pytest.raises(Exception, match="injected fault"):
        dataset_export(export.id)
    export.refresh_from_db()
    assert export.status == DatasetExport.Status.FAILED and "injected fault" in export.error


def _hold_lock(export_id: int, held: threading.Event, release: threading.Event) -> None:
    from django.db import connection

    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(7313, %s)", [export_id])
            held.set()
            release.wait(30)
            cursor.execute("SELECT pg_advisory_unlock(7313, %s)", [export_id])
    finally:
        connection.close()


@pytest.mark.worker
def test_a_running_export_whose_worker_died_is_resumed_by_the_beat(celery_worker, export):
    from labeling.services.exports import dataset_exports_resume_stale

    # What a SIGKILLed export worker leaves once the broker no longer holds its message.
    DatasetExport.objects.filter(pk=export.id).update(status=DatasetExport.Status.RUNNING)
    held, release = threading.Event(), threading.Event()
    holder = threading.Thread(target=_hold_lock, args=(export.id, held, release))
    holder.start()
    try:
        assert held.wait(10)
        assert dataset_exports_resume_stale() == []  # a live runner holds it: left alone
        # A second delivery while it runs returns at once instead of writing the same file twice.
        assert dataset_export(export.id) is None
        assert DatasetExport.objects.get(pk=export.id).status == DatasetExport.Status.RUNNING
    finally:
        release.set()
        holder.join(10)
    assert dataset_exports_resume_stale() == [export.id]
    deadline = time.monotonic() + 60
    while DatasetExport.objects.get(pk=export.id).status == DatasetExport.Status.RUNNING:
        assert time.monotonic() < deadline, celery_worker.log()
        time.sleep(0.1)
    export.refresh_from_db()
    assert export.status == DatasetExport.Status.DONE and export.items_count == 5, export.error
