"""Training as a scheduler runs it across machines: the lease is kept by a heartbeat through slow stretches,
and a later attempt on a fresh machine resumes from the checkpoint in storage with a consistent curve."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
import torch
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import connections
from django.utils import timezone

from tests.training.factories import shapes_version
from tests.training.storage import GatedStorage
from training.ml.checkpoint import load_checkpoint
from training.models import TrainingEpoch, TrainingRun
from training.services import run_create, run_execute
from training.services.checkpoints import checkpoint_store
from training.services.conf import run_dir

QUICK = {"epochs": 2, "batch_size": 32, "workers": 0, "image_size": 32, "max_train_batches": 2}
TTL = 1.5  # seconds: the heartbeat renews every 0.5 s


def _resume_files(run_id: int) -> list[str]:
    try:
        return default_storage.listdir(f"checkpoints/run-{run_id}/resume")[1]
    except FileNotFoundError:
        return []


def _start_gated_worker(make_user, settings, tmp_path) -> tuple[TrainingRun, threading.Thread, list[str]]:
    """A run executed by "worker-1" in a thread (as a worker process would), with a tiny lease TTL and a storage
    whose reads wait at a gate: its materialisation lasts until the test opens the gate."""
    settings.ANNOTATE = {**settings.ANNOTATE, "CHECKPOINT_DIR": str(tmp_path / "ckpt"), "TRAINING_LEASE_SECONDS": TTL}
    owner = make_user("rita", role="researcher")
    s = shapes_version(owner=owner, n_per_class=8)
    run = run_create(version=s.version, created_by=owner, overrides=QUICK, enqueue=False)
    media = settings.STORAGES["default"].get("OPTIONS", {})
    settings.STORAGES = {**settings.STORAGES, "default": {"BACKEND": "tests.training.storage.GatedStorage",
                                                          "OPTIONS": media}}  # fmt: skip
    GatedStorage.reset(gated=True)
    outcome: list[str] = []

    def worker() -> None:
        try:
            outcome.append(run_execute(run_id=run.pk, owner="worker-1"))
        finally:
            connections.close_all()

    thread = threading.Thread(target=worker)
    thread.start()
    return run, thread, outcome


@pytest.mark.django_db(transaction=True)  # the worker, its heartbeat and the test each use their own connection
def test_heartbeat_keeps_the_lease_through_a_slow_materialisation(make_user, settings, tmp_path):
    run, thread, outcome = _start_gated_worker(make_user, settings, tmp_path)
    try:
        assert GatedStorage.reading.wait(timeout=30), "materialisation never started"
        blocked_at = timezone.now()
        time.sleep(3 * TTL)  # the worker's main thread is stuck copying images: only the heartbeat can renew
        row = TrainingRun.objects.get(pk=run.pk)
        assert row.lease_owner == "worker-1" and row.status == "running"
        assert row.lease_expires_at > timezone.now(), "the lease expired while the run was healthy"
        assert row.heartbeat_at > blocked_at + timedelta(seconds=TTL)
        assert not TrainingRun.objects.filter(pk=run.pk, lease_expires_at__lt=timezone.now()).exists()
        assert run_execute(run_id=run.pk, owner="worker-2") == "leased by a live worker"
    finally:
        assert GatedStorage.gate is not None
        GatedStorage.gate.set()
        thread.join(timeout=120)
    assert outcome == ["succeeded"]
    assert not [t for t in threading.enumerate() if t.name == f"lease-run-{run.pk}"]  # the heartbeat stopped
    run.refresh_from_db()
    assert run.lease_owner == "" and run.epochs_done == 2
    # each epoch's checkpoint went to storage before the final model; the resume copies are gone after success
    ckpts = [n for n in GatedStorage.saved if n.startswith(f"checkpoints/run-{run.pk}/")]
    resume = f"checkpoints/run-{run.pk}/resume"
    assert ckpts == [f"{resume}/epoch-0001.pt", f"{resume}/epoch-0002.pt", f"checkpoints/run-{run.pk}/final.pt"]
    assert _resume_files(run.pk) == []


@pytest.mark.django_db(transaction=True)
def test_heartbeat_that_finds_the_lease_taken_stops_the_attempt_without_writing(make_user, settings, tmp_path):
    run, thread, outcome = _start_gated_worker(make_user, settings, tmp_path)
    try:
        assert GatedStorage.reading.wait(timeout=30), "materialisation never started"
        # worker-1 paused too long (as far as the others know): worker-2 took the run over
        TrainingRun.objects.filter(pk=run.pk).update(lease_owner="worker-2")
        deadline = time.monotonic() + 10 * TTL
        while any(t.name == f"lease-run-{run.pk}" for t in threading.enumerate()) and time.monotonic() < deadline:
            time.sleep(0.05)  # the heartbeat notices at its next renewal and stops
        assert not [t for t in threading.enumerate() if t.name == f"lease-run-{run.pk}"]
    finally:
        assert GatedStorage.gate is not None
        GatedStorage.gate.set()
        thread.join(timeout=120)
    assert outcome == ["lost lease"]
    row = TrainingRun.objects.get(pk=run.pk)
    assert row.lease_owner == "worker-2" and row.status == "running" and not row.epochs.exists()
    assert _resume_files(run.pk) == []  # nothing of worker-1's reached the successor's storage


@pytest.mark.django_db
def test_resume_on_a_fresh_machine_continues_from_the_stored_checkpoint(make_user, settings, tmp_path, s3_bucket):
    machine1, machine2 = tmp_path / "machine1", tmp_path / "machine2"
    settings.ANNOTATE = {**settings.ANNOTATE, "CHECKPOINT_DIR": str(machine1)}
    owner = make_user("rita", role="researcher")
    s = shapes_version(owner=owner, n_per_class=8)  # images in the bucket: nothing local but the database
    done = run_create(version=s.version, created_by=owner, overrides=QUICK, enqueue=False)
    assert run_execute(run_id=done.pk) == "succeeded"
    assert _resume_files(done.pk) == [] and default_storage.exists(f"checkpoints/run-{done.pk}/final.pt")

    # Run 2 (4 epochs) on machine 1: its stored checkpoint is epoch 2; the upload of epoch 3 was cut off half-way
    # (the worker died) though epoch 3 was recorded by an older worker version; the lease has expired.
    run = run_create(version=s.version, created_by=owner, overrides={**QUICK, "epochs": 4}, enqueue=False)
    state = load_checkpoint(run_dir(done.pk) / "ckpt" / "last.pt")
    state["config"]["epochs"] = 4
    torch.save(state, tmp_path / "epoch2.pt")
    checkpoint_store(run_id=run.pk, path=tmp_path / "epoch2.pt", epoch=2)
    default_storage.save(f"checkpoints/run-{run.pk}/resume/epoch-0003.pt",
                         ContentFile((tmp_path / "epoch2.pt").read_bytes()[:1000]))  # fmt: skip
    for epoch in (1, 2, 3):
        TrainingEpoch.objects.create(run=run, epoch=epoch, train_loss=9.0, train_acc=0.0, lr=0.1, attempt=1)
    TrainingRun.objects.filter(pk=run.pk).update(
        status="running", attempts=1, epochs_done=3, lease_owner="machine1:1:x",
        lease_expires_at=timezone.now() - timedelta(seconds=1),
    )  # fmt: skip

    settings.ANNOTATE = {**settings.ANNOTATE, "CHECKPOINT_DIR": str(machine2)}  # another machine, empty disk
    assert run_execute(run_id=run.pk, owner="machine2:1:y") == "succeeded"
    run.refresh_from_db()
    assert run.resumed_from_epoch == 2 and run.attempts == 2 and run.epochs_done == 4
    # epochs 1-2 as trained before the checkpoint; attempt 1's epoch 3 (past it) superseded by attempt 2's
    rows = list(run.epochs.values_list("epoch", "attempt", "train_loss"))
    assert [(e, a) for e, a, _ in rows] == [(1, 1), (2, 1), (3, 2), (4, 2)]
    assert rows[2][2] != 9.0
    assert (machine2 / f"run-{run.pk}" / "ckpt").is_dir() and not (machine1 / f"run-{run.pk}").exists()
    assert _resume_files(run.pk) == [] and default_storage.exists(run.checkpoint)
    assert load_checkpoint_from_storage(run.checkpoint)["epoch"] == 4


def load_checkpoint_from_storage(name: str) -> dict:
    import io

    with default_storage.open(name, "rb") as fh:
        return torch.load(io.BytesIO(fh.read()), weights_only=True)
