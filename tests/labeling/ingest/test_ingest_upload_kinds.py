"""One upload service for page and API: an archive chosen as "image files" is recognised by its bytes; admins
ingest server folders inside the allow-listed root only."""

from __future__ import annotations

import io
import re
import tarfile
import time
import zipfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from labeling.models import IngestBatch
from labeling.services.ingestion import batch_run
from tests.conftest import browser_login
from tests.helpers.images import jpeg_bytes, png_bytes


def _zip(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return buf.getvalue()


def _tgz(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


CRAWL = {"heron/a.jpg": jpeg_bytes(seed=301), "egret/b.png": png_bytes(seed=302)}


def _batch_from(response) -> IngestBatch:
    assert response.status_code == 302, response.content.decode()[:500]
    return IngestBatch.objects.get(pk=int(re.search(r"/ingest/batches/(\d+)/", response["Location"]).group(1)))


@pytest.mark.django_db
def test_a_zip_chosen_as_image_files_is_ingested_as_an_archive(client, researcher, project):
    client.force_login(researcher)
    upload = SimpleUploadedFile("crawl.zip", _zip(CRAWL), "application/zip")
    batch = _batch_from(client.post(f"/projects/{project.slug}/ingest/", {"kind": "upload", "files": [upload]}))
    assert batch.kind == IngestBatch.Kind.ARCHIVE
    batch = batch_run(batch_id=batch.id)
    assert (batch.status, batch.ingested, batch.rejected) == ("done", 2, 0)
    assert sorted(project.items.values_list("category__name", flat=True)) == ["egret", "heron"]


@pytest.mark.django_db
def test_detection_reads_bytes_not_names(api_client, researcher, project):
    api_client.force_authenticate(researcher)
    url = f"/api/projects/{project.slug}/ingest/batches/"
    lying_tgz = SimpleUploadedFile("photo.jpg", _tgz(CRAWL), "image/jpeg")
    created = api_client.post(url, {"kind": "upload", "files": [lying_tgz]}, format="multipart")
    assert created.status_code == 201 and created.json()["kind"] == "archive"
    assert batch_run(batch_id=created.json()["id"]).ingested == 2
    lying_jpeg = SimpleUploadedFile("photos.zip", jpeg_bytes(seed=303), "application/zip")
    created = api_client.post(url, {"kind": "upload", "files": [lying_jpeg]}, format="multipart")
    assert created.status_code == 201 and created.json()["kind"] == "upload"
    mixed = [SimpleUploadedFile("a.zip", _zip(CRAWL)), SimpleUploadedFile("b.jpg", jpeg_bytes(seed=304))]
    refused = api_client.post(url, {"kind": "upload", "files": mixed}, format="multipart")
    assert refused.status_code == 400 and refused.json()["code"] == "one_file_expected"


@pytest.mark.django_db
def test_server_folders_are_for_admins_inside_the_root_only(client, make_user, project, tmp_path, settings):
    root, outside = tmp_path / "root", tmp_path / "outside"
    (root / "crawl" / "heron").mkdir(parents=True)
    (root / "crawl" / "heron" / "a.jpg").write_bytes(jpeg_bytes(seed=305))
    outside.mkdir()
    (outside / "secret.jpg").write_bytes(jpeg_bytes(seed=306))
    (root / "link").symlink_to(outside, target_is_directory=True)
    settings.ANNOTATE = {**settings.ANNOTATE, "INGEST_SERVER_ROOT": str(root)}
    url = f"/projects/{project.slug}/ingest/"

    client.force_login(project.owners.get())  # a researcher, not an admin: no such option
    assert 'value="server"' not in client.get(url).content.decode()
    assert client.post(url, {"kind": "server", "folder": "crawl"}).status_code == 200
    assert not IngestBatch.objects.exists()

    client.force_login(make_user("ada", role="admin"))
    page = client.get(url).content.decode()
    assert 'value="server"' in page and str(root) in page
    for bad in ("../outside", str(outside), "link", "crawl/../../outside", "missing"):
        response = client.post(url, {"kind": "server", "folder": bad})
        assert response.status_code == 200 and "ingest root" in response.content.decode(), bad
    assert not IngestBatch.objects.exists()
    batch = _batch_from(client.post(url, {"kind": "server", "folder": "crawl"}))
    assert (batch.kind, batch.source) == ("folder", str((root / "crawl").resolve()))
    assert batch_run(batch_id=batch.id).ingested == 1

    settings.ANNOTATE = {**settings.ANNOTATE, "INGEST_SERVER_ROOT": ""}
    assert 'value="server"' not in client.get(url).content.decode()


@pytest.mark.browser
def test_a_zip_picked_under_image_files_in_the_browser(new_page, make_user, transactional_db, tmp_path):
    from labeling.services.projects import project_create

    make_user("rita", role="researcher", password="pw-rita-123-long")
    from django.contrib.auth import get_user_model

    project_create(slug="herons", owner=get_user_model().objects.get(username="rita"), categories=[{"name": "heron"}])
    archive = tmp_path / "crawl.zip"
    archive.write_bytes(_zip(CRAWL))
    page = new_page()
    browser_login(page, "rita", "pw-rita-123-long")
    page.goto("/projects/herons/ingest/")
    form = page.locator("[data-testid=upload-form]")
    assert form.locator("input[name=kind][value=upload]").is_checked()  # "Image files", the default
    form.locator("input[name=files]").set_input_files(str(archive))
    form.locator("button[type=submit]").click()
    page.wait_for_url("**/ingest/batches/*/")
    batch = IngestBatch.objects.get(project__slug="herons")
    assert batch.kind == IngestBatch.Kind.ARCHIVE
    batch_run(batch_id=batch.id)  # returns at once if a session worker took the queued message first
    deadline = time.monotonic() + 60
    while (batch := IngestBatch.objects.get(pk=batch.id)).status != IngestBatch.Status.DONE:
        assert time.monotonic() < deadline, batch.status
        time.sleep(0.1)
    assert (batch.ingested, batch.rejected) == (2, 0)
