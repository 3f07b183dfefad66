"""Ingest API: researcher-only, scoped to the researcher's own projects (404 otherwise)."""

from __future__ import annotations

import io
import zipfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from labeling.models import IngestBatch
from labeling.services.ingestion import batch_run
from labeling.services.projects import project_create
from tests.helpers.images import jpeg_bytes

pytestmark = pytest.mark.django_db


@pytest.fixture
def rita(api_client, researcher):
    api_client.force_authenticate(researcher)
    return api_client


def _upload(client, slug: str, **data):
    return client.post(f"/api/projects/{slug}/ingest/batches/", data, format="multipart")


def test_upload_many_files_then_status_and_image_list(rita, project, django_capture_on_commit_callbacks):
    files = [SimpleUploadedFile(f"p{i}.jpg", jpeg_bytes(seed=70 + i), "image/jpeg") for i in range(3)]
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = _upload(rita, project.slug, kind="upload", files=files, category="heron")
    assert response.status_code == 201, response.json()
    assert len(callbacks) == 1  # the task is queued after commit
    batch_run(batch_id=response.json()["id"])
    status = rita.get(f"/api/ingest/batches/{response.json()['id']}/").json()
    assert (status["status"], status["ingested"], status["report"]["ingested"]) == ("done", 3, 3)
    images = rita.get(f"/api/projects/{project.slug}/images/", {"near_duplicate": "false"}).json()
    assert images["count"] == 3
    first = images["results"][0]
    assert first["category"] == "heron" and first["thumbnail_url"] == f"/media/thumb/{first['sha256']}"


def test_archive_upload_and_url_list_upload_create_batches(rita, project):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("heron/a.jpg", jpeg_bytes(seed=75))
    response = _upload(rita, project.slug, kind="archive", files=[SimpleUploadedFile("a.zip", buf.getvalue())])
    assert response.status_code == 201
    assert batch_run(batch_id=response.json()["id"]).ingested == 1
    urls = SimpleUploadedFile("urls.txt", b"file:///etc/passwd\n")
    response = _upload(rita, project.slug, kind="urls", files=[urls], category="heron")
    batch = batch_run(batch_id=response.json()["id"])
    assert batch.kind == IngestBatch.Kind.URLS and batch.entries.get().reason_code == "unsupported_scheme"


def test_bad_requests_get_a_detail_and_code(rita, project):
    response = _upload(rita, project.slug, kind="folder", files=[SimpleUploadedFile("a.jpg", b"x")])
    assert response.status_code == 400 and response.json()["code"] == "invalid"
    response = _upload(
        rita, project.slug, kind="archive", files=[SimpleUploadedFile("a", b"1"), SimpleUploadedFile("b", b"2")]
    )
    assert response.status_code == 400 and response.json()["code"] == "one_file_expected"
    response = rita.get(f"/api/projects/{project.slug}/images/", {"ordering": "image__sha256"})
    assert response.status_code == 400  # ordering is allow-listed: no relation traversal


def test_another_researchers_project_batches_images_and_categories_are_404(api_client, make_user, project, run_folder):
    batch = run_folder({"heron/a.jpg": jpeg_bytes(seed=76)})
    mallory = make_user("mallory", role="researcher")
    project_create(slug="mine", owner=mallory)
    api_client.force_authenticate(mallory)
    heron = project.categories.get(name="heron")
    for method, url in [
        ("get", f"/api/projects/{project.slug}/ingest/batches/"),
        ("get", f"/api/ingest/batches/{batch.id}/"),
        ("get", f"/api/projects/{project.slug}/images/"),
        ("get", f"/api/projects/{project.slug}/categories/"),
        ("get", f"/api/projects/{project.slug}/categories/{heron.id}/"),
        ("delete", f"/api/projects/{project.slug}/categories/{heron.id}/"),
        ("get", f"/api/projects/mine/categories/{heron.id}/"),
    ]:
        response = getattr(api_client, method)(url)
        assert response.status_code == 404, (method, url, response.status_code)
    assert project.categories.filter(pk=heron.pk).exists()


def test_volunteers_may_not_use_the_ingest_api(api_client, make_user, project):
    api_client.force_authenticate(make_user("val"))
    assert api_client.get(f"/api/projects/{project.slug}/categories/").status_code == 403


def test_category_crud_and_import(rita, project):
    url = f"/api/projects/{project.slug}/categories/"
    created = rita.post(url, {"name": "egret", "definition": "a white heron", "parent": "heron"}, format="json")
    assert created.status_code == 201 and created.json()["parent"] == "heron"
    assert rita.post(url, {"name": "egret"}, format="json").status_code == 409
    pk = created.json()["id"]
    edited = rita.put(f"{url}{pk}/", {"name": "great egret", "wnid": "n02009229", "parent": ""}, format="json")
    assert edited.status_code == 200 and edited.json()["name"] == "great egret" and edited.json()["parent"] is None
    heron = project.categories.get(name="heron")
    loop = rita.put(f"{url}{heron.pk}/", {"name": "heron", "parent": "heron"}, format="json")
    assert loop.status_code == 400 and loop.json()["code"] == "bad_parent"
    data = b'[{"name": "bittern", "definition": "shy", "wnid": "n02038466", "parent": "heron"}]'
    imported = rita.post(f"{url}import/", {"file": SimpleUploadedFile("c.json", data)}, format="multipart")
    assert imported.json() == {"created": 1, "updated": 0, "errors": []}
    assert rita.delete(f"{url}{pk}/").status_code == 204
    assert sorted(c["name"] for c in rita.get(url).json()) == ["bittern", "heron"]
