"""The whole pipeline with no shared disk (issue 16, part 3): ingest -> label -> version -> export -> train -> predict.

Three processes, as on three hosts (tests/helpers/hosts.py): the web tier (gunicorn), the default+ingest
worker and the gpu worker, each in its own working directory with its own ANNOTATE_VAR_DIR and MEDIA_ROOT;
they share only PostgreSQL, Redis and an S3 bucket (moto's server). Everything is driven over HTTP as a
researcher and three volunteers would (token auth; a session for the media view):

- the researcher uploads a zip (the web stores it in the bucket, the ingest worker reads it from there);
- volunteers answer the verify grids; two of four held-out items are skipped by the third volunteer, so they
  stay open for the model;
- a dataset version, an imagefolder export (written by the worker to the bucket, downloaded through the
  API's redirect and read back by torchvision), a small CNN trained by the gpu worker on data it fetched
  from the bucket (its checkpoint uploaded there), and predictions on the open items.

At the end, no var dir holds an image and no MEDIA_ROOT exists: every byte went through the bucket. The
README's "Scale-out" section describes this topology.
"""

from __future__ import annotations

import hashlib
import io
import random
import tarfile
import time
import uuid
import zipfile
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from PIL import Image as PILImage

from labeling.models import Item, Project
from tests.helpers.hosts import Host, shared_env, start_web, start_worker
from tests.helpers.services import require_broker, require_postgres
from tests.helpers.shapes import draw_shape, encode
from tests.helpers.workers import other_workers_stopped, purge_queues

pytestmark = [pytest.mark.worker, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

SLUG = "shapes-multi-host"
PER_CLASS = 8
HELD_OUT = 2  # per class: open items the model predicts
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tar", ".zip", ".pt")


def wait_for(predicate, timeout: float, what: str, poll: float = 0.2):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(poll)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def shapes_zip(seed: int = 16) -> tuple[bytes, dict[str, str]]:
    """circle/ and square/, 8 real 32 px PNGs each -> (the zip, {sha256: shape})."""
    rng = random.Random(seed)
    buf, truth = io.BytesIO(), {}
    with zipfile.ZipFile(buf, "w") as zf:
        for shape in ("circle", "square"):
            for i in range(PER_CLASS):
                data = encode(draw_shape(shape, 32, rng), "png")
                truth[hashlib.sha256(data).hexdigest()] = shape
                zf.writestr(f"{shape}/{i:02d}.png", data)
    return buf.getvalue(), truth


class Api:
    def __init__(self, base: str, token: str) -> None:
        self.base, self.session = base, requests.Session()
        self.session.headers["Authorization"] = f"Token {token}"

    def get(self, path: str, **kw) -> requests.Response:
        return self.session.get(self.base + path, timeout=60, **kw)

    def post(self, path: str, **kw) -> requests.Response:
        return self.session.post(self.base + path, timeout=60, **kw)


def _token(user) -> str:
    from rest_framework.authtoken.models import Token

    return Token.objects.get_or_create(user=user)[0].key


def _browser_session(base: str, username: str) -> requests.Session:
    """A logged-in session, as a browser has: the media view is for pages, not tokens."""
    session = requests.Session()
    session.get(f"{base}/accounts/login/", timeout=30)
    form = {"username": username, "password": f"pw-{username}-123", "csrfmiddlewaretoken": session.cookies["csrftoken"]}
    response = session.post(f"{base}/accounts/login/", data=form, timeout=30, allow_redirects=False)
    assert response.status_code == 302, response.text[:500]
    return session


def label(api: Api, answer_for, *, skip=frozenset()) -> int:
    """Answer every grid offered until there is no more work; items in `skip` are skipped. Returns the answers."""
    answered = 0
    for _ in range(50):
        items = api.get(f"/api/projects/{SLUG}/next", params={"n": 16}).json()["items"]
        if not items:
            return answered
        answers = []
        for item in items:
            if item["id"] in skip:
                assert api.post(f"/api/projects/{SLUG}/skip", json={"item_id": item["id"]}).status_code < 300
            else:
                answers.append({"item_id": item["id"], "submission_id": str(uuid.uuid4()),
                                "answer": {"label": answer_for(item["id"])}, "time_spent_ms": 900})  # fmt: skip
        if answers:
            response = api.post(f"/api/projects/{SLUG}/answers", json={"answers": answers})
            assert response.status_code == 200 and all(r["ok"] for r in response.json()["results"]), response.text
            answered += len(answers)
    raise AssertionError("the volunteer never ran out of work")


@pytest.fixture
def hosts(tmp_path, s3_server, transactional_db):
    """Three hosts, started in their own directories; the session's other workers are stopped meanwhile."""
    require_postgres()
    require_broker()
    bucket = s3_server.create_bucket("multi-host")
    # the periodic full re-aggregation (every N-th annotation id, global in a test session) would refit the
    # annotator models mid-test; the decisions asserted are the online engine's
    shared = {**shared_env(s3_server.env(bucket)), "ANNOTATE_QUALITY_REAGGREGATE_EVERY": "0"}
    web_host, worker_host, gpu_host = (Host(name, tmp_path / name) for name in ("web", "worker", "gpu"))
    for host in (web_host, worker_host, gpu_host):
        host.root.mkdir()
    with other_workers_stopped():
        purge_queues()
        started = []
        try:
            worker = start_worker(worker_host, shared, "default,ingest")
            started.append(worker)
            gpu = start_worker(gpu_host, shared, "gpu")
            started.append(gpu)
            web = start_web(web_host, shared)
            started.append(web)
            worker.wait_ready()
            yield {"web": web, "worker": worker, "gpu": gpu, "bucket": bucket,
                   "dirs": {"web": web_host, "worker": worker_host, "gpu": gpu_host}}  # fmt: skip
        finally:
            # Each graceful stop waits a second or two on its own process: the three hosts stop side by side.
            with ThreadPoolExecutor(max_workers=3) as pool:
                list(pool.map(lambda process: process.stop(), started))


def test_pipeline_across_three_hosts_sharing_only_postgres_redis_and_s3(hosts, make_user, s3_server, tmp_path):
    started = time.monotonic()
    web, bucket = hosts["web"], hosts["bucket"]
    logs = lambda: f"\n--- worker:\n{hosts['worker'].log()}\n--- gpu:\n{hosts['gpu'].log()}\n--- web:\n{web.log()}"  # noqa: E731
    rita = Api(web.url, _token(make_user("rita", role="researcher")))
    volunteers = [Api(web.url, _token(make_user(f"vol{i}"))) for i in (1, 2, 3)]

    # 1. project + ingest: the zip goes web -> bucket -> ingest worker -> originals + thumbnails in the bucket
    response = rita.post("/api/projects/create/", json={
        "slug": SLUG, "task_type": "verify", "min_votes": 3, "max_votes": 3, "gold_rate": 0, "visibility": "public",
        "categories": [{"name": "circle"}, {"name": "square"}]})  # fmt: skip
    assert response.status_code == 201, response.text
    # The confidence target is a settings-page field, not a create field: 3 agreeing votes (posterior 0.927 at the
    # prior accuracy 0.7) decide an item at 0.9, as in tests/e2e/test_pipeline_browser.py.
    Project.objects.filter(slug=SLUG).update(confidence_target=0.9)
    archive, truth = shapes_zip()
    response = rita.post(f"/api/projects/{SLUG}/ingest/batches/", data={"kind": "archive"},
                         files={"files": ("shapes.zip", archive, "application/zip")})  # fmt: skip
    assert response.status_code in (201, 202), response.text
    batch_url = f"/api/ingest/batches/{response.json()['id']}/"
    batch = wait_for(lambda: (b := rita.get(batch_url).json())["status"] in ("done", "failed") and b, 60, "ingest")
    assert (batch["status"], batch["ingested"], batch["rejected"]) == ("done", 2 * PER_CLASS, 0), (batch, logs())
    keys = s3_server.keys(bucket)
    thumbs = [k for k in keys if k.startswith("thumbs/")]
    assert len([k for k in keys if k.startswith("images/")]) == len(thumbs) == 2 * PER_CLASS
    assert any(k.startswith("uploads/") for k in keys)  # the upload itself crossed hosts through the bucket

    # 2. labeling: every candidate is right; the third volunteer skips the held-out items, which stay open
    items = {i.pk: i for i in Item.objects.filter(project__slug=SLUG).select_related("image", "category")}
    correct = {pk: int(truth[i.image.sha256] == i.category.name) for pk, i in items.items()}
    assert len(items) == 2 * PER_CLASS and set(correct.values()) == {1}
    held_out = frozenset(sorted(pk for pk, i in items.items() if i.category.name == "circle")[:HELD_OUT]
                         + sorted(pk for pk, i in items.items() if i.category.name == "square")[:HELD_OUT])  # fmt: skip
    for n, api in enumerate(volunteers, start=1):
        answered = label(api, correct.__getitem__, skip=held_out if n == 3 else frozenset())
        assert answered == len(items) - (len(held_out) if n == 3 else 0)
    statuses = {pk: status for pk, status in Item.objects.filter(project__slug=SLUG).values_list("pk", "status")}
    assert {pk for pk, s in statuses.items() if s == Item.Status.OPEN} == held_out
    assert {s for pk, s in statuses.items() if pk not in held_out} == {Item.Status.DONE}

    # the grid's thumbnails: authorised by the web tier, bytes from the bucket (a presigned redirect)
    browser = _browser_session(web.url, "vol1")
    sha = items[min(items)].image.sha256
    redirect = browser.get(f"{web.url}/media/thumb/{sha}", allow_redirects=False, timeout=30)
    assert redirect.status_code == 302 and redirect.headers["Location"].startswith(f"{s3_server.endpoint}/{bucket}/")
    thumb = requests.get(redirect.headers["Location"], timeout=30)
    assert thumb.headers["Content-Type"] == "image/jpeg" and PILImage.open(io.BytesIO(thumb.content)).size == (32, 32)

    # 3. dataset version + imagefolder export, written by the worker to the bucket, downloaded via the redirect
    n_labelled = len(items) - len(held_out)
    response = rita.post(f"/api/projects/{SLUG}/datasets/create/", json={"name": "multi-host", "seed": 3})
    assert response.status_code == 201, response.text
    version = response.json()
    assert version["items_count"] == n_labelled
    response = rita.post(f"/api/datasets/{version['id']}/exports/", json={"format": "imagefolder"})
    export_url = f"/api/exports/{response.json()['id']}/"
    export = wait_for(lambda: (e := rita.get(export_url).json())["status"] in ("done", "failed") and e, 60, "export")
    assert export["status"] == "done", (export, logs())
    assert [k for k in s3_server.keys(bucket, "exports/") if k.endswith("-imagefolder.tar")], "export not in the bucket"
    download = rita.get(f"{export_url}download/", allow_redirects=False)
    assert download.status_code == 302 and download.headers["Location"].startswith(f"{s3_server.endpoint}/{bucket}/")
    tar_bytes = requests.get(download.headers["Location"], timeout=60)
    assert tar_bytes.headers["Content-Disposition"].startswith("attachment;")
    root = tmp_path / "export"
    with tarfile.open(fileobj=io.BytesIO(tar_bytes.content)) as tf:
        tf.extractall(root, filter="data")
    from torchvision.datasets import ImageFolder

    total = sum(len(ImageFolder(str(d))) for d in root.iterdir() if d.is_dir())
    assert total == n_labelled and len(ImageFolder(str(root / "train")).classes) == 2

    # 4. training on the gpu worker's host: data and checkpoint through the bucket
    response = rita.post("/api/training/runs/start/", json={"version": version["id"], "architecture": "small_cnn",
                         "epochs": 2, "batch_size": 8, "image_size": 32, "seed": 1, "device": "cpu"})  # fmt: skip
    assert response.status_code == 201, response.text
    run_url = f"/api/training/runs/{response.json()['id']}/"
    run = wait_for(lambda: (r := rita.get(run_url).json())["status"] in ("succeeded", "failed", "canceled") and r,
                   120, "training")  # fmt: skip
    assert run["status"] == "succeeded", (run, logs())
    checkpoint = f"checkpoints/run-{run['id']}/final.pt"
    assert checkpoint in s3_server.keys(bucket, "checkpoints/")

    # 5. predictions on the open items (gpu worker; images fetched from the bucket)
    from training.models import ModelPrediction

    response = rita.post(f"{run_url}predict/", json={"vote": False})
    assert response.status_code == 202, response.text
    wait_for(lambda: ModelPrediction.objects.filter(run_id=run["id"]).count() >= len(held_out), 60, "predictions")
    predicted = set(ModelPrediction.objects.filter(run_id=run["id"]).values_list("item_id", flat=True))
    assert held_out <= predicted

    # nothing crossed hosts on a local disk: no MEDIA_ROOT was created, the web and ingest hosts hold no file
    # of the pipeline, and the gpu host holds only its own copies fetched from the bucket (the run's working
    # dir, and the bounded image cache the predictions read: training/services/image_cache.py)
    dirs = hosts["dirs"]
    for host in dirs.values():
        assert not (host.var_dir / "media").exists(), host.name
    assert dirs["web"].files(*IMAGE_SUFFIXES) == [] and dirs["worker"].files(*IMAGE_SUFFIXES) == []
    gpu_var = dirs["gpu"].var_dir
    gpu_files = dirs["gpu"].files(*IMAGE_SUFFIXES)
    assert all({gpu_var / "checkpoints", gpu_var / "cache" / "images"} & set(p.parents) for p in gpu_files)
    cached = {p.relative_to(gpu_var / "cache" / "images").as_posix() for p in (gpu_var / "cache").rglob("*.png")}
    assert {items[pk].image.file.name for pk in held_out} <= cached
    print(f"\nmulti-host pipeline: {time.monotonic() - started:.0f}s")
