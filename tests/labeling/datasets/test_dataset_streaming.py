"""Exports stream: a 5k-image, 70 MiB export's peak RSS stays far below the bytes it writes; and the Celery path."""

import json
import os
import subprocess
import sys
import tarfile
import time

import psutil
import pytest
from django.conf import settings

from labeling.models import DatasetExport
from labeling.services.datasets import dataset_version_create
from tests.helpers import workers
from tests.labeling.datasets import factories as f

BIG = 5_000


def peak_rss_of_export(version_id: int, fmt: str, out) -> tuple[int, dict]:
    """Run `manage.py export` in a subprocess, polling its RSS every 10 ms; (peak bytes, --json summary)."""
    env = {**os.environ, "DATABASE_URL": workers.test_database_url(),
           "DJANGO_SETTINGS_MODULE": "annotate.settings.test",
           "ANNOTATE_VAR_DIR": str(settings.VAR_DIR), "MEDIA_ROOT": str(settings.MEDIA_ROOT)}  # fmt: skip
    proc = subprocess.Popen([sys.executable, "manage.py", "export", "--version", str(version_id), "--format", fmt,
                             "--out", str(out), "--json"], cwd=workers.REPO_ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    ps, peak = psutil.Process(proc.pid), 0
    while proc.poll() is None:
        try:
            peak = max(peak, ps.memory_info().rss)
        except psutil.NoSuchProcess:
            break
        time.sleep(0.01)
    stdout, stderr = proc.communicate()
    assert proc.returncode == 0, stderr.decode()
    return peak, json.loads(stdout.decode().strip().splitlines()[-1])


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_5k_export_streams_with_bounded_memory(researcher, tmp_path):
    small = f.project(researcher, slug="small", classes=("a", "b", "c"))
    f.bulk_classify(small, 200, seed=1)
    big = f.project(researcher, slug="big", classes=("a", "b", "c"))
    # The archive's size is what an in-memory build would hold: 5,000 images of 112 px (~15 KiB each) write as
    # many bytes as 20,000 of 48 px did, for a quarter of the rows, files and tar members to make and read back.
    stored = f.bulk_classify(big, BIG, side=112, seed=2)
    v_small, v_big = dataset_version_create(project=small), dataset_version_create(project=big)
    assert v_big.items_count == BIG

    base_rss, _ = peak_rss_of_export(v_small.id, "imagefolder", tmp_path / "small.tar")
    peak, summary = peak_rss_of_export(v_big.id, "imagefolder", tmp_path / "big.tar")
    written = summary["bytes"]
    assert summary["items"] == BIG and written > stored > 50 * 1024 * 1024
    # The same command on a 200-image version gives the interpreter + Django baseline. Built in memory, the
    # big export would add at least the archive size on top of it; streamed, it adds little.
    growth = peak - base_rss
    assert growth < 0.2 * written, f"RSS grew {growth / 2**20:.0f} MiB for a {written / 2**20:.0f} MiB export"
    with tarfile.open(tmp_path / "big.tar") as tar:
        assert sum(1 for m in tar if m.name.endswith(".jpg")) == BIG


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_export_through_the_celery_worker(celery_worker, classify_project, researcher, api_client):
    v = dataset_version_create(project=classify_project)
    api_client.force_authenticate(researcher)
    res = api_client.post(f"/api/datasets/{v.id}/exports/", {"format": "webdataset", "shard_mb": 0.05}, format="json")
    assert res.status_code == 202
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        status = api_client.get(f"/api/exports/{res.data['id']}/").data
        if status["status"] in ("done", "failed"):
            break
        time.sleep(0.3)
    assert status["status"] == "done", (status, celery_worker.log())
    export = DatasetExport.objects.get(pk=res.data["id"])
    assert export.items_count == v.items_count and export.options == {"shard_mb": 0.05}
    body = b"".join(api_client.get(status["download_url"]).streaming_content)
    assert len(body) == export.size
