"""Uploads: HTML/SVG/polyglots never served as a document, bombs and traversal refused, oversized bodies refused.

(CVE-2023-47115, CVE-2024-23633: peers served uploads with a guessed content type.)
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image as PILImage
from rest_framework.test import APIClient

from labeling.models import Image, IngestBatch
from tests.helpers.images import jpeg_bytes
from tests.security import harness

HTML = b"<!doctype html><html><body><script>alert(1)</script></body></html>"
SVG = b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><script>alert(1)</script></svg>'


def _bomb_png() -> bytes:
    buf = io.BytesIO()
    PILImage.new("1", (12_000, 12_000)).save(buf, "PNG")  # 144 Mpx (limit 100 Mpx) in a few KB
    return buf.getvalue()


def _media_url(world, name: str) -> str | None:
    for route in harness.url_routes():
        if route.name == name:
            return harness.route_url(route, world.a.objects)
    return None


def test_media_is_served_as_an_inert_image(world, client_as):
    url = _media_url(world, "media_image")
    if url is None:
        pytest.skip("no media view yet (ingestion capability)")
    response = client_as("volunteer").get(url)
    assert response.status_code == 200
    assert response["Content-Type"] == "image/jpeg"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "default-src 'none'" in response["Content-Security-Policy"]
    disposition = response["Content-Disposition"]
    assert disposition.startswith(("inline", "attachment")) and world.a.objects["image"].sha256 in disposition
    assert b"".join(response.streaming_content)[:2] == b"\xff\xd8"


@pytest.mark.parametrize("fmt, body", [("HTML", HTML), ("SVG", SVG), ("", HTML)])
def test_a_stored_non_image_is_never_served(world, client_as, fmt, body):
    """Even if a row with an HTML/SVG body existed, the media view refuses a format outside the allow-list."""
    url = _media_url(world, "media_image")
    if url is None:
        pytest.skip("no media view yet")
    name = default_storage.save("images/evil/evil.bin", io.BytesIO(body))
    sha = "e" * 63 + str(len(fmt))
    image = Image.objects.create(sha256=sha, file=name, width=1, height=1, format=fmt, mode="RGB", size_bytes=len(body))
    from labeling.models import ImageSource

    ImageSource.objects.create(project=world.a.project, image=image, source_uri="evil.html")
    response = client_as("volunteer").get(url.replace(world.a.objects["image"].sha256, sha))
    assert response.status_code == 404
    assert b"<script>" not in (b"".join(response.streaming_content) if response.streaming else response.content)


def _upload(world, files: list[tuple[str, bytes]]):
    client = APIClient()
    client.force_authenticate(world.person("researcher"))
    url = f"/api/projects/{world.a.project.slug}/ingest/batches/"
    payload = {
        "kind": "upload", "category": world.a.objects["category"].name,
        "files": [SimpleUploadedFile(n, b, content_type="image/jpeg") for n, b in files],
    }  # fmt: skip
    return client.post(url, payload, format="multipart")


def test_uploaded_html_svg_bomb_are_rejected_and_polyglot_is_neutralised(world, client_as):
    try:
        from labeling.services.ingestion.batch import batch_run
    except ImportError:
        pytest.skip("ingestion capability not landed")
    polyglot = jpeg_bytes(80, 60, seed=7) + b"<script>alert(1)</script>"
    files = [("evil.jpg", HTML), ("evil.svg", SVG), ("bomb.png", _bomb_png()), ("../../../../tmp/x.jpg", polyglot)]
    images_before = set(Image.objects.values_list("id", flat=True))
    response = _upload(world, files)
    assert response.status_code == 201, response.content[:500]
    batch = batch_run(batch_id=response.json()["id"])
    assert batch.status == IngestBatch.Status.DONE, batch.error
    entries = {e.key: e for e in batch.entries.all()}
    rejected = {k: (e.reason_code, e.message) for k, e in entries.items() if e.status == "rejected"}
    assert len(rejected) == 3, entries
    assert all(code and message for code, message in rejected.values()), rejected
    new_images = Image.objects.exclude(id__in=images_before)
    assert new_images.count() == 1
    stored = new_images.get()
    data = default_storage.open(stored.file.name).read()
    assert stored.format == "JPEG" and data[:2] == b"\xff\xd8"
    root = Path(default_storage.location).resolve()
    assert (root / stored.file.name).resolve().is_relative_to(root)
    assert not Path("/tmp/x.jpg").exists() or Path("/tmp/x.jpg").read_bytes() != polyglot
    media = _media_url(world, "media_image")
    if media:
        served = client_as("researcher").get(media.replace(world.a.objects["image"].sha256, stored.sha256))
        assert served.status_code == 200 and served["Content-Type"] == "image/jpeg"
        assert served["X-Content-Type-Options"] == "nosniff"


def _json_writes(world) -> list[str]:
    out = []
    for path, method, op in harness.api_operations():
        content = op.get("requestBody", {}).get("content", {})
        if method == "post" and "application/json" in content:
            url = harness.fill(path, world.a.objects, openapi=True)
            if url:
                out.append(url)
    return out


def test_oversized_json_bodies_are_refused_without_5xx(world, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 64 * 1024
    big = json.dumps({"answers": [{"item": 1, "label": 1, "pad": "x" * 1000}] * 200, "name": "x" * 100_000})
    client = APIClient()
    client.force_authenticate(world.person("admin"))
    failures = []
    for url in _json_writes(world):
        response = client.post(url, big, content_type="application/json")
        if response.status_code not in (400, 413):
            failures.append(f"POST {url} with {len(big)} bytes -> {response.status_code} {response.content[:150]!r}")
    assert not failures, "bodies over DATA_UPLOAD_MAX_MEMORY_SIZE were accepted or crashed:\n" + "\n".join(failures)


def test_oversized_form_posts_are_refused_without_5xx(world, client_as, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 64 * 1024
    client = client_as("admin")
    failures = []
    for route in harness.html_routes():
        url = harness.route_url(route, world.a.objects)
        if url is None or route.name == "logout":
            continue
        response = client.post(url, {"name": "x" * 200_000, "definition": "y" * 10})
        if response.status_code >= 500:
            failures.append(f"POST {url} -> {response.status_code}")
    assert not failures, "\n".join(failures)
