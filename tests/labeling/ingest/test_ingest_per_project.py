"""Issue 28, findings 1-3, 6 and 7 (and issue 25's cross-project oracle): per-project image rows and clusters,
the best copy as canonical, a verify near-duplicate's category still asked, verified atomic storage writes,
storage errors that leave a batch resumable (retry by service, API and command), attempt counters."""

from __future__ import annotations

import hashlib
import json
import os

import pytest
from django.core.files.storage import default_storage
from django.core.management import CommandError, call_command

from labeling.models import Image, IngestBatch, IngestEntry, Item
from labeling.services.ingestion import batch_run
from labeling.services.ingestion.batch import batch_retry
from labeling.services.ingestion.storage import blob_matches, blob_store, original_name
from labeling.services.projects import project_create
from tests.helpers.images import encode, jpeg_bytes, make_image

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def own_media(settings, tmp_path):
    """A media folder of this test's own: the storage tests put obstacles and partial files into it."""
    default = settings.STORAGES["default"]
    settings.STORAGES = {**settings.STORAGES, "default": {
        **default, "OPTIONS": {**default.get("OPTIONS", {}), "location": str(tmp_path / "media")}}}  # fmt: skip


@pytest.fixture
def other(researcher):
    return project_create(slug="other", owner=researcher, task_type="classify", categories=[{"name": "bird"}])


def _pair(seed: int) -> tuple[bytes, bytes]:
    """(original 400x300 q92, its resized copy 200x150 q60)."""
    picture = make_image(400, 300, seed=seed)
    return encode(picture, "JPEG", quality=92), encode(picture.resize((200, 150)), "JPEG", quality=60)


def test_an_image_that_is_a_near_duplicate_elsewhere_still_gets_its_item_here(run_folder, other):
    original, small = _pair(60)
    first = run_folder({"heron/original.jpg": original, "heron/small.jpg": small})
    assert first.near_duplicates == 1
    batch = run_folder({"bird/small.jpg": small}, target=other)
    assert (batch.ingested, batch.near_duplicates) == (1, 0)
    image = batch.entries.get().image
    assert image.project_id == other.id and image.canonical_id is None
    assert list(Item.objects.filter(project=other).values_list("image_id", flat=True)) == [image.id]


def test_a_reused_image_goes_through_the_near_duplicate_lookup(run_folder, project, other):
    original, small = _pair(61)
    run_folder({"heron/original.jpg": original})  # the original is in `project` only
    run_folder({"bird/small.jpg": small}, target=other)
    batch = run_folder({"bird/original.jpg": original}, target=other)
    assert batch.near_duplicates == 1, list(batch.entries.values("key", "status", "message"))
    clusters = {img.canonical_id or img.id for img in Image.objects.filter(project=other)}
    assert len(clusters) == 1  # one cluster in `other`: it can never straddle train and test


def test_identical_bytes_twice_in_a_chunk_reused_from_another_project_count_once(run_folder, other):
    data = jpeg_bytes(120, 90, seed=62)
    run_folder({"heron/a.jpg": data})
    batch = run_folder({"bird/a.jpg": data, "bird/b.jpg": data}, target=other)
    assert (batch.ingested, batch.duplicates) == (1, 1)


def test_uploading_bytes_only_another_project_holds_reveals_nothing_of_it(run_folder, project, other):
    """Issue 25: B's image id (an old, low number) came back to A as the entry's image, with "Stored once
    already (image N)": proof that someone else holds those bytes."""
    secret = jpeg_bytes(120, 90, seed=63)
    theirs = run_folder({"heron/secret.jpg": secret}).entries.get().image
    fresh = jpeg_bytes(120, 90, seed=64)
    batch = run_folder({"bird/secret.jpg": secret, "bird/fresh.jpg": fresh}, target=other)
    by_key = {e.key: e for e in batch.entries.all()}
    known, new = by_key["bird/secret.jpg"], by_key["bird/fresh.jpg"]
    assert known.status == new.status == IngestEntry.Status.INGESTED
    assert known.image_id != theirs.id and known.image.project_id == other.id
    assert str(theirs.id) not in known.message and known.message == new.message == ""
    assert known.image.canonical_id is None


def test_verify_near_duplicate_keeps_its_category_and_the_best_copy_is_canonical(run_folder, project):
    """Finding 6: the alphabetically first copy (200 px, q60) became canonical, and the near-duplicate's
    candidate category ("egret") was never asked."""
    original, small = _pair(65)
    batch = run_folder({"egret/a_small.jpg": small, "heron/b_original.jpg": original})
    by_key = {e.key: e for e in batch.entries.all()}
    best, copy = by_key["heron/b_original.jpg"].image, by_key["egret/a_small.jpg"].image
    assert best.canonical_id is None and copy.canonical_id == best.id
    assert by_key["egret/a_small.jpg"].status == IngestEntry.Status.NEAR_DUPLICATE
    asked = set(Item.objects.filter(project=project).values_list("image_id", "category__name"))
    assert asked == {(best.id, "heron"), (best.id, "egret")}


def test_a_truncated_file_under_the_content_name_is_replaced(run_folder):
    """Finding 2: a killed worker left 3,479 of 10,438 bytes under the final name; the resume trusted it."""
    data = jpeg_bytes(300, 200, seed=66)
    name = original_name(hashlib.sha256(data).hexdigest(), "jpg")
    path = default_storage.path(name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as fh:
        fh.write(data[: len(data) // 3])
    assert not blob_matches(name=name, data=data)
    batch = run_folder({"heron/a.jpg": data})
    assert batch.ingested == 1
    with default_storage.open(batch.entries.get().image.file.name, "rb") as fh:
        assert fh.read() == data
    assert not [n for n in os.listdir(os.path.dirname(path)) if n.endswith(".tmp")]  # no temporary left over


def test_blob_store_keeps_a_matching_file_and_replaces_a_different_one(settings, tmp_path):
    settings.STORAGES = {**settings.STORAGES, "default": {"BACKEND": "django.core.files.storage.FileSystemStorage",
                                                          "OPTIONS": {"location": str(tmp_path)}}}  # fmt: skip
    blob_store(name="images/aa/bb/x.jpg", data=b"12345")
    before = os.stat(tmp_path / "images/aa/bb/x.jpg").st_ino
    blob_store(name="images/aa/bb/x.jpg", data=b"12345")
    assert os.stat(tmp_path / "images/aa/bb/x.jpg").st_ino == before  # trusted: same size and hash
    blob_store(name="images/aa/bb/x.jpg", data=b"54321")  # same size, other bytes: replaced
    assert (tmp_path / "images/aa/bb/x.jpg").read_bytes() == b"54321"


def _block_storage(data: bytes) -> str:
    """Make storing `data` fail with an OSError: a plain file where its folder must be (root ignores modes)."""
    folder = os.path.dirname(default_storage.path(original_name(hashlib.sha256(data).hexdigest(), "jpg")))
    parent = os.path.dirname(folder)
    os.makedirs(parent, exist_ok=True)
    with open(folder, "wb") as fh:
        fh.write(b"in the way")
    return folder


def test_a_storage_error_leaves_the_batch_resumable_and_a_retry_finishes_it(run_folder, project, client, researcher,
                                                                             tmp_path):  # fmt: skip
    """Finding 3: an OSError from the blob store failed the whole batch for good, every entry pending."""
    good, blocked = jpeg_bytes(120, 90, seed=67), jpeg_bytes(120, 90, seed=68)
    obstacle = _block_storage(blocked)
    batch = run_folder({"heron/good.jpg": good, "heron/blocked.jpg": blocked})
    assert batch.status == IngestBatch.Status.FAILED and batch.error.startswith("storage_error: 1 entries")
    by_key = {e.key: e for e in batch.entries.all()}
    assert by_key["heron/good.jpg"].status == IngestEntry.Status.INGESTED
    waiting = by_key["heron/blocked.jpg"]
    assert waiting.status == IngestEntry.Status.PENDING and waiting.attempts == 1
    assert waiting.message.startswith("storage_error:")
    assert Item.objects.filter(project=project).count() == 1  # what was stored is labelled already

    os.remove(obstacle)
    client.force_login(researcher)
    response = client.post(f"/api/ingest/batches/{batch.id}/retry/")
    assert response.status_code == 202, response.content
    assert response.json()["status"] == "queued"
    batch = batch_run(batch_id=batch.id)
    assert batch.status == IngestBatch.Status.DONE and (batch.ingested, batch.rejected) == (2, 0)
    assert Item.objects.filter(project=project).count() == 2
    again = client.post(f"/api/ingest/batches/{batch.id}/retry/")
    assert again.status_code == 409 and again.json()["code"] == "not_retryable"


def test_an_entry_that_never_gets_stored_is_rejected_after_its_attempts(run_folder, settings, capsys):
    """Finding 7: no attempt counter, so the same chunk could be retried for ever."""
    settings.ANNOTATE = {**settings.ANNOTATE, "INGEST_MAX_ATTEMPTS": 2}
    blocked = jpeg_bytes(120, 90, seed=69)
    _block_storage(blocked)
    batch = run_folder({"heron/blocked.jpg": blocked})
    assert batch.status == IngestBatch.Status.FAILED
    with pytest.raises(CommandError):
        call_command("ingest", "--retry", str(batch.id), "--json")  # the command's retry: fails again, visibly
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["error"].startswith("storage_error")
    batch.refresh_from_db()
    batch_retry(batch=batch)
    batch = batch_run(batch_id=batch.id)  # third run: two attempts spent, the entry is rejected
    entry = batch.entries.get()
    assert (entry.status, entry.reason_code, entry.attempts) == ("rejected", "storage_error", 2)
    assert batch.status == IngestBatch.Status.DONE and batch.rejected == 1


def test_the_batch_page_offers_a_retry_for_a_failed_batch(run_folder, client, researcher):
    blocked = jpeg_bytes(120, 90, seed=70)
    obstacle = _block_storage(blocked)
    batch = run_folder({"heron/blocked.jpg": blocked})
    client.force_login(researcher)
    page = client.get(f"/ingest/batches/{batch.id}/")
    assert f'action="/ingest/batches/{batch.id}/retry/"' in page.content.decode()
    os.remove(obstacle)
    response = client.post(f"/ingest/batches/{batch.id}/retry/")
    assert response.status_code == 302
    batch.refresh_from_db()
    assert batch.status == IngestBatch.Status.QUEUED
    assert batch_run(batch_id=batch.id).ingested == 1


def test_creating_a_version_merges_clusters_ingest_kept_apart(run_folder, settings, researcher):
    """Two batches running at once each miss the other's images (README): the version re-clusters the
    project's hashes first, so a copy and its original share one split. Ingest misses the pair here because
    its colour check refuses every hit while it runs (the state concurrent batches leave)."""
    from labeling.models import DatasetVersionItem
    from labeling.services.datasets import dataset_version_create

    project = project_create(slug="rc", owner=researcher, task_type="classify", categories=[{"name": "bird"}])
    original, small = _pair(71)
    strict = settings.ANNOTATE
    settings.ANNOTATE = {**strict, "NEAR_DUP_MAX_COLOUR_DIFF": -1}
    run_folder({"bird/small.jpg": small}, target=project)
    run_folder({"bird/original.jpg": original}, target=project)
    assert Image.objects.filter(project=project, canonical__isnull=True).count() == 2
    bird = project.categories.get()
    Item.objects.filter(project=project).update(status="done", label=bird.id, confidence=0.9)
    settings.ANNOTATE = strict
    version = dataset_version_create(project=project)
    best = Image.objects.get(project=project, width=400)
    copy = Image.objects.get(project=project, width=200)
    assert best.canonical_id is None and copy.canonical_id == best.id  # the better copy is the canonical
    rows = list(DatasetVersionItem.objects.filter(version=version).values_list("image_id", "cluster_id"))
    assert rows == [(best.id, best.id)]  # one image per cluster


def test_a_small_file_is_decoded_in_the_crash_isolating_pool(settings):
    """Finding 7: files under 32 KB were decoded in the task's own thread, where a decoder crash kills the
    worker. By default every file goes to the pool now."""
    from labeling.services.ingestion import decoding

    settings.ANNOTATE = {**settings.ANNOTATE, "INGEST_PROCESSES": 2}
    decoding.pool_shutdown()
    small = jpeg_bytes(64, 48, seed=72)
    assert len(small) < 32 * 1024
    try:
        prepared = decoding.prepare(small)
        assert decoding._current is not None and decoding._current.processes == 2  # the pool did the work
        assert prepared.sha256 == hashlib.sha256(small).hexdigest()
    finally:
        decoding.pool_shutdown()
