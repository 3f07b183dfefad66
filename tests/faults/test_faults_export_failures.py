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
def export(make_user, settings, tmp_path):
    require_postgres()
    # A media folder of its own (a worker started by a test inherits MEDIA_ROOT): ids restart with each test
    # database, so files of an earlier run could sit where this export writes.
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.STORAGES = {**settings.STORAGES, "default": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(settings.MEDIA_ROOT), "base_url": "/media/"},
    }}  # fmt: skip
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


def _backend_pids_running(fragment: str) -> list[int]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE state = 'active' AND query LIKE %s AND pid <> pg_backend_pid()",
            [f"%{fragment}%"],
        )
        return [row[0] for row in cursor.fetchall()]


@pytest.mark.worker
@pytest.mark.slow
def test_a_worker_killed_mid_export_is_resumed_and_the_export_finishes(export):
    """SIGKILL of the export worker while it is writing: the broker redelivers the message to the next
    worker, which rewrites the export; it is never left RUNNING."""
    from annotate.celery import app
    from tests.helpers.workers import WorkerProcess

    env = {"CELERY_VISIBILITY_TIMEOUT": "2", "CELERY_UNACKED_RESTORE_INTERVAL": "1",
           "CELERY_UNACKED_RESTORE_THROTTLE": "1", "CELERY_UNACKED_MUTEX_EXPIRE": "3"}  # fmt: skip
    # Deterministically mid-export: the first progress update of the run sleeps inside PostgreSQL.
    stall = (
        "CREATE OR REPLACE FUNCTION fault_stall() RETURNS trigger AS $$ BEGIN PERFORM pg_sleep(60); RETURN NEW; END $$"
        " LANGUAGE plpgsql"
    )
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(stall)
        cursor.execute(
            "CREATE TRIGGER fault_stall BEFORE UPDATE ON labeling_datasetexport FOR EACH ROW "
            "WHEN (NEW.status = 'running' AND OLD.status = 'running') EXECUTE FUNCTION fault_stall()"
        )
    first = WorkerProcess(queues="export_kill", env_extra=env).start()
    second = None
    try:
        app.send_task("default.dataset_export", args=[export.id], queue="export_kill")
        deadline = time.monotonic() + 60
        while not (stalled := _backend_pids_running('UPDATE "labeling_datasetexport" SET "progress"')):
            assert time.monotonic() < deadline, first.log()
            time.sleep(0.2)
        first.kill()  # SIGKILL to the whole process group, mid-export
        with connection.cursor() as cursor:
            # PostgreSQL notices a dead client only when it next writes to it: end its sleeping session (and
            # with it the run's advisory lock), as a connection timeout would. First: dropping the trigger
            # waits for that session's transaction.
            for pid in stalled:
                cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
            cursor.execute("DROP TRIGGER fault_stall ON labeling_datasetexport")
            cursor.execute("DROP FUNCTION fault_stall()")
        assert DatasetExport.objects.get(pk=export.id).status == DatasetExport.Status.RUNNING
        second = WorkerProcess(queues="export_kill", env_extra=env).start()
        deadline = time.monotonic() + 90
        while DatasetExport.objects.get(pk=export.id).status not in (DatasetExport.Status.DONE,
                                                                      DatasetExport.Status.FAILED):  # fmt: skip
            assert time.monotonic() < deadline, second.log()
            time.sleep(0.2)
        log = second.log()
    finally:
        first.stop()
        if second:
            second.stop()
        with connection.cursor() as cursor:
            cursor.execute("DROP TRIGGER IF EXISTS fault_stall ON labeling_datasetexport")
            cursor.execute("DROP FUNCTION IF EXISTS fault_stall()")
    export.refresh_from_db()
    assert export.status == DatasetExport.Status.DONE and export.items_count == 5, (export.error, log)
    assert _exports_dir(export) == [export.file.name.rsplit("/", 1)[-1]]  # one file: the rewrite's
