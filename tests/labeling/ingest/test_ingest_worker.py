"""End to end through a real Celery worker: folder -> batch -> images with thumbnails; and a killed worker."""

from __future__ import annotations

import io
import re
import time

import pytest
from PIL import Image as PILImage

from labeling.models import Image, ImageSource, IngestBatch, IngestEntry
from labeling.services.ingestion import batch_create
from tests.helpers.images import jpeg_bytes
from tests.helpers.workers import WorkerProcess

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def _wait(batch_id: int, *, timeout: float = 60, until=lambda b: b.status in ("done", "failed")) -> IngestBatch:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        batch = IngestBatch.objects.get(pk=batch_id)
        if until(batch):
            return batch
        time.sleep(0.05)
    raise AssertionError(f"batch {batch_id} stuck: {IngestBatch.objects.filter(pk=batch_id).values().first()}")


def _folder(tmp_path, n: int, size=(64, 48)):
    for i in range(n):
        path = tmp_path / "crawl" / ("heron" if i % 2 else "egret") / f"{i:04d}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(jpeg_bytes(*size, seed=1000 + i))
    return tmp_path / "crawl"


def test_folder_batch_through_the_worker_shows_images_with_thumbnails(
    celery_worker, client, project, researcher, tmp_path
):
    from labeling.services.ingestion.batch import batch_start

    batch = batch_create(project=project, kind=IngestBatch.Kind.FOLDER, source=str(_folder(tmp_path, 6)))
    batch_start(batch=batch)  # autocommit: on_commit runs now
    batch = _wait(batch.id)
    assert (batch.status, batch.ingested) == ("done", 6), celery_worker.log()
    client.force_login(researcher)
    html = client.get(f"/projects/{project.slug}/images/").content.decode()
    thumbs = re.findall(r'src="(/media/thumb/[0-9a-f]{64})"', html)
    assert len(thumbs) == 6
    for url in thumbs:
        response = client.get(url)
        img = PILImage.open(io.BytesIO(b"".join(response.streaming_content)))
        img.load()
        assert img.format == "JPEG" and max(img.size) <= 256
    # Re-running the same source through the worker adds nothing.
    again = batch_create(project=project, kind=IngestBatch.Kind.FOLDER, source=batch.source)
    batch_start(batch=again)
    again = _wait(again.id)
    assert (again.ingested, again.duplicates) == (0, 6) and Image.objects.count() == 6


def test_a_killed_worker_resumes_the_batch_without_duplicates(project, tmp_path):
    from annotate.celery import app

    # 240 images keep the kill mid-batch (4 per chunk, the kill after 12); 320 x 240 still needs a downscaled
    # thumbnail, at a quarter of the decoding a 640 x 480 photo costs the resumed worker.
    source = _folder(tmp_path, 240, size=(320, 240))
    env = {
        "CELERY_VISIBILITY_TIMEOUT": "2",
        "CELERY_UNACKED_RESTORE_INTERVAL": "1",  # look for the orphaned message every second, not every 100 s
        "CELERY_UNACKED_RESTORE_THROTTLE": "1",
        "CELERY_UNACKED_MUTEX_EXPIRE": "3",  # a worker killed while holding the restore lock
        "ANNOTATE_INGEST_CHUNK_SIZE": "4",
        "ANNOTATE_INGEST_THREADS": "1",
    }
    first = WorkerProcess(queues="ingest_resume", env_extra=env).start()
    second = None
    try:
        batch = batch_create(project=project, kind=IngestBatch.Kind.FOLDER, source=str(source))
        app.send_task("ingest.run_batch", args=[batch.id], queue="ingest_resume")
        _wait(batch.id, timeout=60, until=lambda b: b.processed >= 12)
        first.kill()  # SIGKILL to the whole process group, mid-batch
        killed_at = IngestBatch.objects.get(pk=batch.id)
        assert killed_at.status == "running" and killed_at.processed < killed_at.total, first.log()
        second = WorkerProcess(queues="ingest_resume", env_extra=env).start()
        batch = _wait(batch.id, timeout=90)
        log = second.log()
    finally:
        first.stop()
        if second:
            second.stop()
    assert batch.status == "done", log
    assert (batch.total, batch.ingested, batch.duplicates) == (240, 240, 0)
    assert Image.objects.count() == 240 and ImageSource.objects.filter(project=project).count() == 240
    assert not batch.entries.filter(status=IngestEntry.Status.PENDING).exists()


def test_the_worker_decodes_in_its_own_process_pool_and_a_bad_image_costs_nothing_beside_it(project, tmp_path):
    """Celery's prefork children are daemonic; the decoding pool (billiard, spawn) must start inside one."""
    import psutil

    from annotate.celery import app

    source = _folder(tmp_path, 10, size=(320, 240))
    (source / "heron" / "broken.jpg").write_bytes(jpeg_bytes(320, 240, seed=7)[:900])
    env = {
        "ANNOTATE_INGEST_PROCESSES": "2",
        "ANNOTATE_INGEST_CHUNK_SIZE": "4",
        "ANNOTATE_INGEST_IN_THREAD_BELOW_BYTES": "0",
    }
    worker = WorkerProcess(queues="ingest_pool", env_extra=env).start()
    try:
        batch = batch_create(project=project, kind=IngestBatch.Kind.FOLDER, source=str(source))
        app.send_task("ingest.run_batch", args=[batch.id], queue="ingest_pool")
        batch = _wait(batch.id, timeout=90)
        # The pool outlives the task (reused by the next one): its two children are still there.
        tree = psutil.Process(worker.proc.pid).children(recursive=True)
        spawned = [p for p in tree if "spawn_main" in " ".join(p.cmdline())]
        log = worker.log()
    finally:
        worker.stop()
    assert (batch.status, batch.ingested, batch.rejected) == ("done", 10, 1), log
    assert batch.entries.get(key="heron/broken.jpg").reason_code == "truncated"
    assert len(spawned) == 2, [p.cmdline() for p in tree]
