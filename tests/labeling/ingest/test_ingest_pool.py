"""The decoding process pool (labeling/services/ingestion/decoding.py) and the small-JPEG thumbnail.

Run in this (pytest) process with a pool of two children; the same pool inside a real Celery prefork
worker is in test_ingest_worker.py.
"""

from __future__ import annotations

import io
import os

import pytest
from django.core.files.storage import default_storage
from PIL import Image as PILImage

from labeling.models import Image, IngestEntry
from tests.helpers.images import jpeg_bytes, jpeg_with_exif_orientation, png_bytes

pytestmark = pytest.mark.django_db

INGESTED, REJECTED = IngestEntry.Status.INGESTED, IngestEntry.Status.REJECTED


@pytest.fixture
def pool_of_two(settings):
    # Every file goes to the pool, however small (by default files under 32 KB are decoded in the thread).
    settings.ANNOTATE = {
        **settings.ANNOTATE,
        "INGEST_PROCESSES": 2,
        "INGEST_CHUNK_SIZE": 8,
        "INGEST_IN_THREAD_BELOW_BYTES": 0,
    }


def _corrupt(data: bytes) -> bytes:
    """The JPEG's entropy-coded middle overwritten: the header reads, decoding fails."""
    middle = len(data) // 2
    return data[:middle] + bytes(range(256)) * 4 + data[middle + 1024 :]


def test_a_bad_image_in_a_pool_chunk_is_recorded_and_costs_its_neighbours_nothing(pool_of_two, run_folder):
    from labeling.services.ingestion import decoding

    good = {f"heron/{i:02d}.jpg": jpeg_bytes(320, 240, seed=500 + i) for i in range(14)}
    whole = jpeg_bytes(320, 240, seed=99)
    bad = {
        "heron/truncated.jpg": whole[: len(whole) // 2],
        "heron/corrupt.jpg": _corrupt(jpeg_bytes(320, 240, seed=98)),
        "heron/notes.jpg": b"<html>not an image</html>",
        "heron/empty.jpg": b"",
    }
    batch = run_folder({**good, **bad})

    verdicts = {e.key: (e.status, e.reason_code) for e in batch.entries.all()}
    assert {k: verdicts[k] for k in good} == {k: (INGESTED, "") for k in good}
    assert verdicts["heron/truncated.jpg"] == (REJECTED, "truncated")
    assert verdicts["heron/corrupt.jpg"][0] == REJECTED and verdicts["heron/corrupt.jpg"][1] in {"corrupt", "truncated"}
    assert verdicts["heron/notes.jpg"] == (REJECTED, "not_an_image")
    assert verdicts["heron/empty.jpg"] == (REJECTED, "empty")
    assert (batch.status, batch.ingested, batch.rejected) == ("done", 14, 4)
    # The work was done by the pool's two processes, not by this one.
    pool = decoding._current
    assert pool is not None and pool.processes == 2
    pids = {worker.pid for worker in pool.pool._pool}
    assert len(pids) == 2 and os.getpid() not in pids
    # What came back from the children is complete: the stored bytes are the input's, hashes match.
    for key, data in good.items():
        image = batch.entries.get(key=key).image
        with default_storage.open(image.file.name, "rb") as fh:
            assert fh.read() == data
        assert image.size_bytes == len(data) and (image.width, image.height) == (320, 240)


def test_the_pool_applies_the_callers_limits(pool_of_two, settings, run_folder):
    """Children get the settings with each call: a test's (or an operator's) limit applies there."""
    settings.ANNOTATE = {**settings.ANNOTATE, "MIN_IMAGE_SIDE": 100}
    batch = run_folder({"a.jpg": jpeg_bytes(90, 90, seed=1), "b.jpg": jpeg_bytes(120, 120, seed=2)}, category="heron")
    verdicts = {e.key: (e.status, e.reason_code) for e in batch.entries.all()}
    assert verdicts == {"a.jpg": (REJECTED, "too_small"), "b.jpg": (INGESTED, "")}


@pytest.mark.parametrize("processes", [1, 2])
def test_a_small_jpeg_is_its_own_thumbnail_and_a_large_one_gets_one(
    settings, run_folder, client, researcher, processes
):
    settings.ANNOTATE = {**settings.ANNOTATE, "INGEST_PROCESSES": processes, "INGEST_IN_THREAD_BELOW_BYTES": 0}
    small, large = jpeg_bytes(200, 150, seed=11), jpeg_bytes(640, 480, seed=12)
    rotated = jpeg_with_exif_orientation(200, 150, 6, seed=13)  # re-encoded upright: not its own thumbnail
    png = png_bytes(200, 150, seed=14)
    batch = run_folder(
        {"heron/small.jpg": small, "heron/large.jpg": large, "heron/rotated.jpg": rotated, "heron/small.png": png}
    )
    assert batch.ingested == 4
    images = {e.key.split("/")[1]: e.image for e in batch.entries.select_related("image")}

    own = images["small.jpg"]
    assert own.thumbnail.name == own.file.name  # one file, not two
    assert not default_storage.exists(f"thumbs/{own.sha256[:2]}/{own.sha256[2:4]}/{own.sha256}.jpg")
    client.force_login(researcher)
    response = client.get(f"/media/thumb/{own.sha256}")
    served = b"".join(response.streaming_content)
    assert response.status_code == 200 and served == small
    with PILImage.open(io.BytesIO(served)) as decoded:
        decoded.load()
        assert (decoded.format, decoded.size) == ("JPEG", (200, 150))

    for name in ("large.jpg", "rotated.jpg", "small.png"):
        image = images[name]
        assert image.thumbnail.name.startswith("thumbs/") and image.thumbnail.name != image.file.name, name
        with default_storage.open(image.thumbnail.name, "rb") as fh, PILImage.open(fh) as thumb:
            thumb.load()
            assert thumb.format == "JPEG" and max(thumb.size) <= 256, name
    assert Image.objects.get(pk=images["rotated.jpg"].pk).width == 150  # turned upright


ORPHAN = """
import io, json, os
import django
django.setup()
from django.conf import settings
from PIL import Image
settings.ANNOTATE = {**settings.ANNOTATE, "INGEST_PROCESSES": 2, "INGEST_IN_THREAD_BELOW_BYTES": 0}
from labeling.services.ingestion import decoding
buf = io.BytesIO()
Image.new("RGB", (64, 64)).save(buf, "JPEG")
decoding.prepare(buf.getvalue())
print(json.dumps(sorted(w.pid for w in decoding._current.pool._pool)), flush=True)
os._exit(0)  # dies without closing the pool, as a SIGKILLed worker would
"""


def test_the_pools_children_exit_when_their_parent_dies_without_closing_it():
    import json
    import subprocess
    import sys
    import time
    from pathlib import Path

    import psutil

    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "annotate.settings.test"}
    done = subprocess.run([sys.executable, "-c", ORPHAN], cwd=Path(__file__).resolve().parents[3], env=env,
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    children = json.loads(done.stdout.strip().splitlines()[-1])
    assert len(children) == 2
    deadline = time.monotonic() + 30
    alive = children
    while alive and time.monotonic() < deadline:
        alive = [pid for pid in children if psutil.pid_exists(pid) and psutil.Process(pid).status() != "zombie"]
        time.sleep(0.2)
    assert alive == [], "orphaned decoding processes stayed alive"
