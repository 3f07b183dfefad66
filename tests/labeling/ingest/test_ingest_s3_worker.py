"""Ingest through a real Celery worker whose storage is S3 (moto's server): originals and thumbnails land in
the bucket, decodable; nothing is written to the worker's local MEDIA_ROOT."""

from __future__ import annotations

import io
import time

import pytest
from PIL import Image as PILImage

from labeling.models import Image, IngestBatch
from labeling.services.ingestion import batch_create
from labeling.services.ingestion.batch import batch_start
from tests.helpers.images import jpeg_bytes, png_bytes

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_the_ingest_worker_writes_originals_and_thumbnails_to_the_bucket(
    s3_worker, s3_server, s3_bucket, project, tmp_path
):
    sources = {f"heron/{i}.jpg": jpeg_bytes(400, 300, seed=700 + i) for i in range(4)}
    sources["egret/big.png"] = png_bytes(seed=710)
    for name, data in sources.items():
        (tmp_path / "crawl" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "crawl" / name).write_bytes(data)
    batch = batch_create(project=project, kind=IngestBatch.Kind.FOLDER, source=str(tmp_path / "crawl"))
    batch_start(batch=batch)  # autocommit: enqueued now
    deadline = time.monotonic() + 60
    while (batch := IngestBatch.objects.get(pk=batch.pk)).status not in ("done", "failed"):
        assert time.monotonic() < deadline, s3_worker.log()
        time.sleep(0.1)
    assert (batch.status, batch.ingested) == ("done", 5), s3_worker.log()
    keys = set(s3_server.keys(s3_bucket))
    images = list(Image.objects.all())
    assert len(images) == 5
    for image in images:
        assert {image.file.name, image.thumbnail.name} <= keys
        original = PILImage.open(io.BytesIO(s3_server.get(s3_bucket, image.file.name)))
        assert (original.format, original.size) == (image.format, (image.width, image.height))
        thumb = PILImage.open(io.BytesIO(s3_server.get(s3_bucket, image.thumbnail.name)))
        assert thumb.format == "JPEG" and max(thumb.size) == min(256, max(image.width, image.height))
