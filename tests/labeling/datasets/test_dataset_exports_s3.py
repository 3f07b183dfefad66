"""Exports on S3 (moto's server): written by the runner to the bucket, downloaded through the API's presigned
redirect and through `manage.py export`, and read back with the real readers (torchvision, webdataset)."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest
import requests
from django.conf import settings
from django.core.management import call_command

from labeling.models import DatasetExport
from labeling.services.datasets import dataset_version_create
from labeling.services.exports import dataset_export_request, dataset_export_run
from tests.labeling.datasets import factories as f

pytestmark = pytest.mark.django_db


def run_export(version, fmt: str, **options) -> DatasetExport:
    export = dataset_export_request(version=version, fmt=fmt, options=options, enqueue=False)
    export = dataset_export_run(export_id=export.id)
    assert export.status == DatasetExport.Status.DONE
    return export


def local_exports() -> dict[str, float]:
    """Files under the local media's exports folder, with their modification times. Compared before and after
    rather than tested for absence: on SQLite ids repeat after a test's rollback, so an earlier test's local
    export may carry this export's name."""
    root = Path(settings.MEDIA_ROOT) / "exports"
    return {str(p): p.stat().st_mtime for p in root.rglob("*") if p.is_file()} if root.exists() else {}


def download(client, export: DatasetExport, s3_server, bucket: str) -> bytes:
    """The researcher's download: a redirect to the bucket, the bytes from there."""
    response = client.get(f"/api/exports/{export.pk}/download/")
    assert response.status_code == 302
    location = response["Location"]
    assert location.startswith(f"{s3_server.endpoint}/{bucket}/{export.file.name}?")
    fetched = requests.get(location, timeout=30)
    assert fetched.status_code == 200
    assert fetched.headers["Content-Disposition"].startswith('attachment; filename="')
    assert fetched.headers["Cache-Control"] == "private, no-store"  # not content-addressed
    return fetched.content


def test_imagefolder_export_lives_in_the_bucket_and_downloads_for_torchvision(
    s3_server, s3_bucket, client, researcher, classify_project, tmp_path
):
    from torchvision.datasets import ImageFolder

    version = dataset_version_create(project=classify_project, seed=2)
    local_before = local_exports()
    export = run_export(version, "imagefolder")
    assert export.file.name in s3_server.keys(s3_bucket, "exports/")
    assert local_exports() == local_before  # never on the local disk
    client.force_login(researcher)
    data = download(client, export, s3_server, s3_bucket)
    assert data == s3_server.get(s3_bucket, export.file.name) and len(data) == export.size
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        tar.extractall(tmp_path / "x", filter="data")
    loaded = sum(len(ImageFolder(str(d))) for d in (tmp_path / "x").iterdir() if d.is_dir())
    assert loaded == version.items_count == export.items_count


def test_webdataset_export_on_s3_through_the_command(s3_server, s3_bucket, researcher, tmp_path):
    import webdataset as wds

    project = f.project(researcher, slug="wds-s3", classes=("a", "b"))
    f.bulk_classify(project, 30, side=40)
    version = dataset_version_create(project=project)
    out = tmp_path / "out.tar"
    stdout = io.StringIO()
    call_command("export", "--version", str(version.pk), "--format", "webdataset", "--shard-mb", "0.02",
                 "--out", str(out), "--json", stdout=stdout)  # fmt: skip
    summary = json.loads(stdout.getvalue().splitlines()[-1])
    export = DatasetExport.objects.get(pk=summary["export"])
    assert out.read_bytes() == s3_server.get(s3_bucket, export.file.name)  # copied from the bucket
    with tarfile.open(out) as tar:
        tar.extractall(tmp_path / "x", filter="data")
    shards = json.loads((tmp_path / "x" / "shards.json").read_text())
    names = [tmp_path / "x" / n for split in shards.values() for n in split]
    samples = list(wds.WebDataset([str(n) for n in names], shardshuffle=False).decode("pil"))
    assert len(samples) == version.items_count == 30
    assert all(s["jpg"].size == (40, 40) for s in samples)


def test_an_outsider_gets_no_download_url(s3_bucket, client, make_user, classify_project):
    version = dataset_version_create(project=classify_project, seed=2)
    export = run_export(version, "csv")
    client.force_login(make_user("other", role="researcher"))
    response = client.get(f"/api/exports/{export.pk}/download/")
    assert response.status_code == 404 and "Location" not in response


def test_a_checkpoint_in_the_bucket_downloads_through_a_redirect(s3_server, s3_bucket, client, researcher,
                                                                   make_user, classify_project):  # fmt: skip
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage

    from training.models import TrainingRun
    from training.services import run_create

    version = dataset_version_create(project=classify_project, seed=2)
    run = run_create(version=version, created_by=researcher, enqueue=False)
    name = default_storage.save(f"checkpoints/run-{run.pk}/final.pt", ContentFile(b"weights" * 100))
    TrainingRun.objects.filter(pk=run.pk).update(checkpoint=name)
    client.force_login(researcher)
    response = client.get(f"/training/runs/{run.pk}/checkpoint/")
    assert response.status_code == 302 and response["Location"].startswith(f"{s3_server.endpoint}/{s3_bucket}/{name}?")
    fetched = requests.get(response["Location"], timeout=30)
    assert fetched.content == b"weights" * 100
    assert fetched.headers["Content-Disposition"] == f'attachment; filename="run-{run.pk}-{run.architecture}.pt"'
    client.force_login(make_user("other", role="researcher"))
    refused = client.get(f"/training/runs/{run.pk}/checkpoint/")
    assert refused.status_code == 404 and "Location" not in refused
