"""run_execute in this process: lease, resume from the checkpoint, idempotence, cancel, failure."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.files.storage import default_storage
from django.utils import timezone

from tests.training.factories import shapes_version
from training.ml.checkpoint import load_checkpoint
from training.models import TrainingEpoch, TrainingRun
from training.services import run_cancel, run_create, run_execute, version_materialise
from training.services.checkpoints import checkpoint_store
from training.services.conf import run_dir

pytestmark = pytest.mark.django_db

QUICK = {"epochs": 3, "batch_size": 32, "workers": 0, "image_size": 32}


@pytest.fixture
def checkpoints(tmp_path, settings):
    settings.ANNOTATE = {**settings.ANNOTATE, "CHECKPOINT_DIR": str(tmp_path / "ckpt")}
    return tmp_path / "ckpt"


@pytest.fixture
def setup(make_user, checkpoints):
    owner = make_user("rita", role="researcher")
    return owner, shapes_version(owner=owner, n_per_class=30)


def test_materialise_writes_imagefolder_from_ids(setup, tmp_path):
    _, s = setup
    root = version_materialise(version=s.version, root=tmp_path / "data")
    files = sorted(p.relative_to(root).as_posix() for p in root.rglob("*.png"))
    assert len(files) == 90
    row = s.version.rows.select_related("image").first()
    assert f"{row.split}/{row.class_index:03d}/{row.image_id}.png" in files
    assert (root / "classes.json").read_text() == '["000", "001", "002"]'


def test_execute_trains_records_and_uploads(setup):
    owner, s = setup
    run = run_create(version=s.version, created_by=owner, overrides=QUICK, enqueue=False)
    assert run_execute(run_id=run.pk) == "succeeded"
    run.refresh_from_db()
    assert run.status == "succeeded" and run.epochs_done == 3 and run.attempts == 1
    assert list(run.epochs.values_list("epoch", flat=True)) == [1, 2, 3]
    assert run.final_metrics["classes"] == ["circle", "square", "triangle"]
    assert [r["class"] for r in run.final_metrics["per_class"]] == ["circle", "square", "triangle"]
    assert run.final_split == "test" and run.final_metrics["num_samples"] == s.version.rows.filter(split="test").count()
    cm = run.final_metrics["confusion_matrix"]
    wrong = sum(map(sum, cm)) - sum(cm[i][i] for i in range(len(cm)))
    assert len(run.final_metrics["mistakes"]) == wrong  # the run page's gallery: images by id and sha256
    test_images = dict(s.version.rows.filter(split="test").values_list("image_id", "image_sha256"))
    for m in run.final_metrics["mistakes"]:
        assert test_images[m["image"]] == m["sha256"] and m["true"] != m["predicted"]
    assert run.device_used == "cpu" and not run.lease_owner and run.lease_expires_at is None
    assert default_storage.exists(run.checkpoint) and run.checkpoint_size > 0
    with default_storage.open(run.checkpoint, "rb") as fh:
        assert fh.read(2) == b"PK"  # a torch zip archive
    # a redelivered message for a finished run does nothing
    assert run_execute(run_id=run.pk) == "already succeeded"
    assert TrainingEpoch.objects.filter(run=run).count() == 3


def test_live_lease_blocks_a_second_worker_and_expired_lease_resumes(setup, tmp_path):
    owner, s = setup
    run = run_create(version=s.version, created_by=owner, overrides={**QUICK, "epochs": 2}, enqueue=False)
    assert run_execute(run_id=run.pk) == "succeeded"
    # Simulate: a second run whose first worker died after epoch 2 of 4 (checkpoint in storage), keeping a live lease.
    run2 = run_create(version=s.version, created_by=owner, overrides={**QUICK, "epochs": 4}, enqueue=False)
    state = load_checkpoint(run_dir(run.pk) / "ckpt" / "last.pt")
    state["config"]["epochs"] = 4  # the same run, as if it had been configured for 4 epochs
    import torch

    torch.save(state, tmp_path / "last.pt")
    checkpoint_store(run_id=run2.pk, path=tmp_path / "last.pt", epoch=2)
    TrainingEpoch.objects.create(run=run2, epoch=1, train_loss=1, train_acc=0.5, lr=0.1)
    TrainingRun.objects.filter(pk=run2.pk).update(
        status="running", lease_owner="dead:1:x", lease_expires_at=timezone.now() + timedelta(minutes=5), attempts=1
    )
    assert run_execute(run_id=run2.pk) == "leased by a live worker"
    TrainingRun.objects.filter(pk=run2.pk).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    assert run_execute(run_id=run2.pk) == "succeeded"
    run2.refresh_from_db()
    assert run2.resumed_from_epoch == 2 and run2.attempts == 2
    epochs = list(run2.epochs.values_list("epoch", "attempt"))
    # epoch 1 was already recorded; epoch 2 was checkpointed but never reported: synced from the history
    assert epochs == [(1, 1), (2, 2), (3, 2), (4, 2)]


def test_cancel_queued_run_never_trains(setup):
    owner, s = setup
    run = run_create(version=s.version, created_by=owner, overrides=QUICK, enqueue=False)
    run_cancel(run=run)
    run.refresh_from_db()
    assert run.status == "cancelled"
    assert run_execute(run_id=run.pk) == "already cancelled"
    assert not run.epochs.exists()


def test_bad_version_fails_cleanly(make_user, checkpoints):
    owner = make_user("rita", role="researcher")
    s = shapes_version(owner=owner, n_per_class=3)
    s.version.rows.all().delete()
    run = run_create(version=s.version, created_by=owner, overrides=QUICK, enqueue=False)
    assert run_execute(run_id=run.pk) == "failed"
    run.refresh_from_db()
    assert run.status == "failed" and "no labelled images" in run.error and not run.lease_owner


def test_heartbeat_does_not_take_an_uncommitted_lease_for_a_lost_one(setup, settings):
    """Here the run executes inside the test's transaction: the heartbeat's own connection cannot see the lease
    (PostgreSQL) or must wait for the lock (SQLite). Neither proves the lease lost: the run trains to the end."""
    settings.ANNOTATE = {**settings.ANNOTATE, "TRAINING_LEASE_SECONDS": 0.3}  # a renewal every 0.1 s
    owner, s = setup
    run = run_create(version=s.version, created_by=owner, overrides=QUICK, enqueue=False)
    assert run_execute(run_id=run.pk) == "succeeded"
    run.refresh_from_db()
    assert run.status == "succeeded" and run.epochs_done == 3
