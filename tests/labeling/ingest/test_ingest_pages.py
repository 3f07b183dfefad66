"""Researcher pages: categories, ingest upload, batch progress, images grid; names always escaped."""

from __future__ import annotations

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from labeling.services.ingestion import batch_run
from labeling.services.projects import category_upsert
from tests.helpers.images import jpeg_bytes

pytestmark = pytest.mark.django_db
EVIL = "<script>alert('x')</script>"


def test_category_names_with_script_are_escaped_on_every_page(client, researcher, project, run_folder):
    evil = category_upsert(project=project, name=EVIL, definition=f"def {EVIL}")
    batch = run_folder({"a.jpg": jpeg_bytes(seed=90)}, category=EVIL)
    assert batch.ingested == 1
    client.force_login(researcher)
    pages = [
        f"/projects/{project.slug}/categories/",
        f"/projects/{project.slug}/categories/{evil.pk}/edit/",
        f"/projects/{project.slug}/images/",
        f"/ingest/batches/{batch.pk}/",
        f"/projects/{project.slug}/ingest/",
    ]
    for url in pages:
        response = client.get(url)
        assert response.status_code == 200, url
        html = response.content.decode()
        assert EVIL not in html, url
    assert "&lt;script&gt;" in client.get(pages[0]).content.decode()
    assert "&lt;script&gt;" in client.get(pages[3]).content.decode()


def test_upload_form_starts_a_batch_and_redirects_to_its_page(client, researcher, project):
    client.force_login(researcher)
    files = [SimpleUploadedFile(f"f{i}.jpg", jpeg_bytes(seed=91 + i), "image/jpeg") for i in range(2)]
    response = client.post(f"/projects/{project.slug}/ingest/", {"kind": "upload", "files": files, "category": "heron"})
    assert response.status_code == 302
    pk = int(re.search(r"/ingest/batches/(\d+)/", response["Location"]).group(1))
    batch_run(batch_id=pk)
    status = client.get(f"/ingest/batches/{pk}/status.json").json()
    assert (status["ingested"], status["finished"]) == (2, True)
    page = client.get(f"/ingest/batches/{pk}/").content.decode()
    assert 'id="batch-progress"' in page and 'value="2"' in page


def test_batch_page_lists_rejected_inputs(client, researcher, run_folder):
    batch = run_folder({"heron/x.jpg": b"", "heron/y.jpg": b"GIF89a broken"})
    client.force_login(researcher)
    html = client.get(f"/ingest/batches/{batch.pk}/").content.decode()
    assert "heron/x.jpg" in html and "empty" in html and "heron/y.jpg" in html


def test_category_import_and_edit_through_pages(client, researcher, project):
    client.force_login(researcher)
    csv = SimpleUploadedFile("c.csv", b"name,definition,wnid,parent\negret,white,n02009229,heron\n")
    response = client.post(f"/projects/{project.slug}/categories/", {"action": "import", "import-file": csv})
    assert response.status_code == 302
    egret = project.categories.get(name="egret")
    assert egret.parent.name == "heron"
    response = client.post(
        f"/projects/{project.slug}/categories/{egret.pk}/edit/",
        {"name": "great egret", "definition": "big", "wnid": "n02009229", "parent": ""},
    )
    assert response.status_code == 302
    egret.refresh_from_db()
    assert (egret.name, egret.parent) == ("great egret", None)


def test_pages_are_404_for_other_researchers_and_403_for_volunteers(client, make_user, project, run_folder):
    batch = run_folder({"heron/a.jpg": jpeg_bytes(seed=95)})
    client.force_login(make_user("mallory", role="researcher"))
    for url in [
        f"/projects/{project.slug}/images/",
        f"/ingest/batches/{batch.pk}/",
        f"/projects/{project.slug}/ingest/",
    ]:
        assert client.get(url).status_code == 404
    client.force_login(make_user("val"))
    assert client.get(f"/projects/{project.slug}/categories/").status_code == 403
