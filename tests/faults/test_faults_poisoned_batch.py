"""One poisoned entry among good ones: the good ones land, the bad one gets its own verdict, the batch ends.

Issue 17, finding 4: a zip with a 201-character folder name (an invalid category) or a URL list with a NUL
byte (PostgreSQL text cannot hold one) raised inside the chunk's transaction: the batch stayed `running`
forever with no error, and the valid images of that chunk were lost.
"""

from __future__ import annotations

import http.server
import io
import threading
import zipfile

import pytest

from labeling.models import IngestBatch, IngestEntry
from labeling.services.ingestion import batch_create, batch_run
from tests.helpers.images import jpeg_bytes, png_bytes

IMAGE = jpeg_bytes(96, 64, seed=41)


class _Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "image/jpeg")
        self.send_header("Content-Length", str(len(IMAGE)))
        self.end_headers()
        self.wfile.write(IMAGE)


@pytest.fixture
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"127.0.0.1:{httpd.server_port}"
    httpd.shutdown()


@pytest.fixture
def project(make_user):
    from labeling.services.projects import project_create

    return project_create(slug="poison", owner=make_user("pat", role="researcher"), categories=[{"name": "heron"}])


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _verdicts(batch: IngestBatch) -> dict[str, tuple[str, str]]:
    return {e.key: (e.status, e.reason_code) for e in batch.entries.all()}


def test_a_201_character_folder_name_is_one_rejected_entry(project, tmp_path):
    long_folder = "x" * 201
    archive = tmp_path / "poison.zip"
    archive.write_bytes(_zip({
        "heron/1.png": png_bytes(64, 48, seed=1),
        f"{long_folder}/2.png": png_bytes(64, 48, seed=2),
        "egret/3.png": png_bytes(64, 48, seed=3),
    }))  # fmt: skip
    batch = batch_create(project=project, kind=IngestBatch.Kind.ARCHIVE, source=str(archive))
    batch = batch_run(batch_id=batch.id)
    assert batch.status == IngestBatch.Status.DONE, batch.error
    verdicts = _verdicts(batch)
    assert verdicts["heron/1.png"] == (IngestEntry.Status.INGESTED, "")
    assert verdicts["egret/3.png"] == (IngestEntry.Status.INGESTED, "")
    assert verdicts[f"{long_folder}/2.png"] == (IngestEntry.Status.REJECTED, "invalid_category")
    assert (batch.ingested, batch.rejected, batch.processed, batch.total) == (2, 1, 3, 3)
    assert project.items.count() == 2


def test_a_nul_byte_in_a_url_list_is_one_rejected_entry(project, tmp_path, settings, server):
    settings.ANNOTATE = {**settings.ANNOTATE, "FETCH_ALLOW_LOOPBACK_FOR_TESTS": True, "FETCH_TIMEOUT_SECONDS": 2}
    lines = [
        "url,category",
        f"http://{server}/good.jpg,heron",
        f"http://{server}/bad\x00.jpg,heron",
        f"http://{server}/other.jpg,her\x00on",
    ]
    path = tmp_path / "urls.csv"
    path.write_bytes("\n".join(lines).encode())
    batch = batch_create(project=project, kind=IngestBatch.Kind.URLS, source=str(path))
    batch = batch_run(batch_id=batch.id)
    assert batch.status == IngestBatch.Status.DONE, batch.error
    entries = list(batch.entries.all())
    assert len(entries) == 3 and all("\x00" not in e.key + e.message for e in entries)
    good = [e for e in entries if e.status == IngestEntry.Status.INGESTED]
    assert [e.key for e in good] == [f"http://{server}/good.jpg\theron"]
    rejected = sorted(e.reason_code for e in entries if e.status == IngestEntry.Status.REJECTED)
    assert rejected == ["invalid_entry", "invalid_entry"]
    assert project.items.count() == 1


def _hold_run_lock(batch_id: int, held: threading.Event, release: threading.Event) -> None:
    """A live runner, as far as the database can tell: its own connection holds the batch's advisory lock."""
    from django.db import connection

    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(7312, %s)", [batch_id])
            held.set()
            release.wait(30)
            cursor.execute("SELECT pg_advisory_unlock(7312, %s)", [batch_id])
    finally:
        connection.close()


@pytest.mark.worker
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_running_batch_whose_runner_died_is_resumed_by_the_beat(celery_worker, project, tmp_path):
    import time

    from labeling.services.ingestion import batch_resume_stale
    from tests.helpers.services import require_postgres

    require_postgres()
    root = tmp_path / "crawl"
    for i in range(3):
        (root / "heron").mkdir(parents=True, exist_ok=True)
        (root / "heron" / f"{i}.png").write_bytes(png_bytes(64, 48, seed=300 + i))
    batch = batch_create(project=project, kind=IngestBatch.Kind.FOLDER, source=str(root))
    # What a SIGKILLed runner leaves once the broker no longer holds its message: running, no runner.
    IngestBatch.objects.filter(pk=batch.id).update(status=IngestBatch.Status.RUNNING)

    held, release = threading.Event(), threading.Event()
    holder = threading.Thread(target=_hold_run_lock, args=(batch.id, held, release))
    holder.start()
    try:
        assert held.wait(10)
        assert batch_resume_stale() == []  # its runner is alive: left alone
    finally:
        release.set()
        holder.join(10)

    assert batch_resume_stale() == [batch.id]
    deadline = time.monotonic() + 60
    while IngestBatch.objects.get(pk=batch.id).status == IngestBatch.Status.RUNNING:
        assert time.monotonic() < deadline, celery_worker.log()
        time.sleep(0.1)
    batch.refresh_from_db()
    assert (batch.status, batch.ingested) == (IngestBatch.Status.DONE, 3), batch.error


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_an_unexpected_database_error_ends_the_batch_failed_with_its_reason(project, tmp_path):
    from tests.faults.faults_db import trigger_fault
    from tests.helpers.services import require_postgres

    require_postgres()
    root = tmp_path / "crawl"
    (root / "heron").mkdir(parents=True)
    (root / "heron" / "poison-db.png").write_bytes(png_bytes(64, 48, seed=500))
    batch = batch_create(project=project, kind=IngestBatch.Kind.FOLDER, source=str(root))
    poisoned = trigger_fault(table="labeling_imagesource", when="NEW.source_uri LIKE '%poison-db%'")
    with poisoned, pytest.raises(Exception, match="injected fault"):  # the task fails visibly ...
        batch_run(batch_id=batch.id)
    batch.refresh_from_db()  # ... and the batch says why, instead of "running" forever
    assert batch.status == IngestBatch.Status.FAILED and batch.finished_at is not None
    assert batch.error.startswith("internal_error:") and "injected fault" in batch.error
