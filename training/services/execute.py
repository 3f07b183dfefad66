"""The body of `gpu.train_run`: lease, materialise, train (resuming), record, upload. See training/README.md.

Idempotent and safe under redelivery: the run row is locked with `select_for_update` to take the lease;
a live lease held by another worker means "someone is on it" and this call returns without work; a
terminal run is never trained again. A heartbeat thread (lease.py) renews the lease for the whole attempt.
Every write after the start is conditional on still owning the lease, so a worker that lost it (paused past
the TTL, then woke up) cannot overwrite its successor's progress. Checkpoints go to storage after every epoch
(checkpoints.py), so a later attempt on any machine resumes from the last recorded epoch.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import time
import traceback
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import torch
from django.db import transaction
from django.utils import timezone

from training.ml.checkpoint import LAST_NAME
from training.ml.config import TrainConfig, resolve_device
from training.ml.run import TrainResult, train
from training.models import TrainingEpoch, TrainingRun
from training.services.checkpoints import (
    checkpoint_fetch,
    checkpoint_store,
    checkpoint_store_final,
    checkpoints_discard,
)
from training.services.conf import cancel_poll_seconds, lease_seconds, max_attempts, run_dir
from training.services.data import version_class_names, version_materialise
from training.services.events import run_finished_emit
from training.services.lease import Heartbeat, lease_renew

log = logging.getLogger(__name__)
LOG_LINES = 80


def _epoch_fields(h: dict[str, Any]) -> dict[str, Any]:
    return {
        "epoch": int(h["epoch"]), "train_loss": h["train_loss"], "train_acc": h["train_acc"],
        "val_loss": h.get("val_loss"), "val_acc": h.get("val_acc"), "lr": h["lr"],
        "images_per_sec": h.get("images_per_sec") or 0.0, "seconds": h.get("seconds") or 0.0,
        "steps": h.get("steps") or 0,
    }  # fmt: skip


def default_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class _Execution:
    """One worker's hold on one run: the lease (its heartbeat thread), throttled cancel polling, log lines,
    checkpoints copied to storage, guarded writes."""

    def __init__(self, run: TrainingRun, owner: str) -> None:
        self.run_id, self.owner, self.attempt = run.pk, owner, run.attempts
        self.ttl = lease_seconds()
        self.poll = cancel_poll_seconds()
        self.lines = [line for line in run.log_tail.splitlines() if line]
        self.heartbeat = Heartbeat(run_id=run.pk, owner=owner, ttl=self.ttl)
        self.cancel = False
        self._last_poll = time.monotonic()

    @property
    def lost(self) -> bool:
        """Another worker holds the run now (seen by the heartbeat thread or by a guarded write)."""
        return self.heartbeat.lost.is_set()

    def say(self, message: str) -> None:
        stamp = timezone.now().strftime("%Y-%m-%d %H:%M:%S")
        self.lines = [*self.lines, f"{stamp} {message}"][-LOG_LINES:]
        log.info("run %s: %s", self.run_id, message)

    def owned(self) -> Any:
        return TrainingRun.objects.filter(pk=self.run_id, lease_owner=self.owner)

    def renew(self, **fields: Any) -> bool:
        """Extend the lease, writing `fields` too; False once the lease belongs to someone else."""
        if not self.lost and not lease_renew(run_id=self.run_id, owner=self.owner, ttl=self.ttl, **fields):
            self.heartbeat.lost.set()
        return not self.lost

    def should_stop(self) -> bool:
        """Called before every batch: at most one DB read per `poll` seconds (the heartbeat thread renews)."""
        now = time.monotonic()
        if now - self._last_poll >= self.poll:
            self._last_poll = now
            self.cancel = bool(
                TrainingRun.objects.filter(pk=self.run_id).values_list("cancel_requested", flat=True).first()
            )
        return self.cancel or self.lost

    def on_checkpoint(self, path: str, epoch: int) -> None:
        """Rank 0 wrote last.pt: copy it to storage before the epoch is recorded (not once the run is another's:
        its stored checkpoint is the successor's now)."""
        if not self.lost:
            checkpoint_store(run_id=self.run_id, path=Path(path), epoch=epoch)

    def restart_curve(self, resumed: int | None) -> None:
        """Drop the recorded epochs this attempt redoes (those past its checkpoint): the curve shows each
        epoch once, as the attempt that the final model descends from trained it."""
        with transaction.atomic():
            if self.renew(epochs_done=resumed or 0):
                TrainingEpoch.objects.filter(run_id=self.run_id, epoch__gt=resumed or 0).delete()

    def on_epoch(self, metrics: dict[str, Any]) -> None:
        val = ""
        if metrics.get("val_acc") is not None:
            val = f", val loss {metrics['val_loss']:.4f} acc {metrics['val_acc']:.3f}"
        self.say(
            f"epoch {metrics['epoch']}: train loss {metrics['train_loss']:.4f} acc {metrics['train_acc']:.3f}{val}, "
            f"{metrics['images_per_sec']:.0f} img/s"
        )
        with transaction.atomic():
            if self.renew(epochs_done=metrics["epoch"], log_tail="\n".join(self.lines)):
                self.record_epochs([metrics])

    def record_epochs(self, history: list[dict[str, Any]]) -> None:
        rows = [TrainingEpoch(run_id=self.run_id, attempt=self.attempt, **_epoch_fields(h)) for h in history]
        TrainingEpoch.objects.bulk_create(rows, ignore_conflicts=True)  # an epoch already recorded stays as it was


def _acquire(run_id: int, owner: str) -> tuple[TrainingRun | None, str]:
    with transaction.atomic():
        run = TrainingRun.objects.select_for_update().filter(pk=run_id).first()
        if run is None:
            return None, "missing"
        if run.is_terminal:
            return None, f"already {run.status}"
        now = timezone.now()
        if run.lease_owner and run.lease_expires_at and run.lease_expires_at > now:
            return None, "leased by a live worker"
        fields = ["lease_owner", "lease_expires_at", "heartbeat_at", "updated_at"]
        if run.cancel_requested:
            run.status, run.finished_at, run.lease_owner, run.lease_expires_at = run.Status.CANCELLED, now, "", None
            run.save(update_fields=[*fields, "status", "finished_at"])
            run_finished_emit(run_id=run.pk)
            return None, "cancelled before start"
        if run.attempts >= max_attempts():  # each earlier attempt died with its worker (e.g. out of GPU memory)
            run.status, run.finished_at, run.lease_owner, run.lease_expires_at = run.Status.FAILED, now, "", None
            run.error = (f"Gave up after {run.attempts} attempts: each ended without finishing (the worker was "
                         "killed or lost, e.g. out of memory); try a smaller batch or image size.")  # fmt: skip
            run.save(update_fields=[*fields, "status", "finished_at", "error"])
            run_finished_emit(run_id=run.pk)
            return None, "too many attempts"
        run.lease_owner, run.lease_expires_at, run.heartbeat_at = owner, now + timedelta(seconds=lease_seconds()), now
        run.status, run.started_at = run.Status.RUNNING, run.started_at or now
        run.attempts += 1
        run.worker_host = socket.gethostname()
        run.save(update_fields=[*fields, "status", "started_at", "attempts", "worker_host"])
    return run, "acquired"


def _device_name(config: TrainConfig) -> str:
    device = resolve_device(config.device)
    return torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"


def _named_metrics(metrics: dict[str, Any], names: list[str]) -> dict[str, Any]:
    """The ml report knows class folders (000, 001 ...); the run shows the version's class names."""
    out = dict(metrics)
    out["classes"] = list(names)
    out["per_class"] = [{**row, "class": names[i]} for i, row in enumerate(metrics.get("per_class", []))]
    return out


MISTAKES_KEPT = 200


def _mistake_images(mistakes: list[dict[str, Any]], names: list[str]) -> list[dict[str, Any]]:
    """The ml result's misclassified files -> images (the materialised file is named by image id)."""
    from labeling.models import Image

    rows = mistakes[:MISTAKES_KEPT]
    ids = [int(Path(m["path"]).stem) for m in rows]
    sha = dict(Image.objects.filter(pk__in=ids).values_list("pk", "sha256"))
    return [
        {"image": i, "sha256": sha.get(i, ""), "true": names[m["true"]], "predicted": names[m["predicted"]],
         "confidence": m["confidence"]}
        for i, m in zip(ids, rows, strict=True)
    ]  # fmt: skip


def run_execute(*, run_id: int, owner: str | None = None) -> str:
    """Train run `run_id` to completion (or cancel/failure); returns what happened, for logs and tests."""
    owner = owner or default_owner()
    run, reason = _acquire(run_id, owner)
    if run is None:
        log.info("run %s: nothing to do (%s)", run_id, reason)
        if reason == "too many attempts":  # ended failed: never resumed, so its stored resume point goes
            checkpoints_discard(run_id=run_id)
        return reason
    ex = _Execution(run, owner)
    with ex.heartbeat:  # renews the lease every TTL/3 until the attempt ends, whatever this thread is doing
        return _attempt(ex, run)


def _attempt(ex: _Execution, run: TrainingRun) -> str:
    workdir = run_dir(run.pk)
    try:
        if ex.attempt == 1:  # a first attempt never resumes: whatever is there belongs to no attempt of this run
            shutil.rmtree(workdir, ignore_errors=True)
        config = TrainConfig.from_dict(run.config).replace(checkpoint_dir=str(workdir / "ckpt"), resume=True)
        data_root = version_materialise(version=run.version, root=workdir / "data")
        device_name, world = _device_name(config), config.world_size  # the run's setting, not the GPU count
        # From storage, whichever machine ran the earlier attempts (nothing there on a first attempt).
        resumed = checkpoint_fetch(run_id=run.pk, checkpoint_dir=Path(config.checkpoint_dir or ""))
        if ex.lost:
            log.warning("run %s: lease lost before training; leaving the run to its new owner", run.pk)
            return "lost lease"
        ex.restart_curve(resumed)
        ex.say(f"attempt {ex.attempt} on {run.worker_host}, device {device_name} x{world}, global batch "
               f"{config.batch_size} = {world} x {config.rank_batch_size} per rank, lr {config.lr:g} (unscaled)"
               + (f", resuming after epoch {resumed}" if resumed is not None else ""))  # fmt: skip
        extra = {"resumed_from_epoch": resumed} if resumed is not None else {}
        ex.renew(device_used=device_name[:16], world_size=world, log_tail="\n".join(ex.lines), **extra)
        result = train(
            config, data_root, on_epoch=ex.on_epoch, should_stop=ex.should_stop, on_checkpoint=ex.on_checkpoint
        )
    except Exception as exc:  # the run records its failure; the task must not retry a deterministic error
        ex.say(f"failed: {type(exc).__name__}: {exc}")
        ex.lines = [*ex.lines, *traceback.format_exc().splitlines()[-12:]][-LOG_LINES:]
        _finish(ex, run.Status.FAILED, error=f"{type(exc).__name__}: {exc}"[:2000])
        return "failed" if not ex.lost else "lost lease"
    return _finalise(ex, run, result)


def _finalise(ex: _Execution, run: TrainingRun, result: TrainResult) -> str:
    if ex.lost:
        log.warning("run %s: lease lost to another worker; leaving the run to it", run.pk)
        return "lost lease"
    with transaction.atomic():
        if not ex.renew():
            return "lost lease"
        ex.record_epochs(result.history)  # epochs checkpointed but not reported before a crash
    if result.status == "cancelled":
        ex.say(f"cancelled after {result.epochs_completed} epochs")
        _finish(ex, run.Status.CANCELLED, epochs_done=result.epochs_completed)
        return "cancelled"
    names = version_class_names(run.version)
    metrics = _named_metrics(result.final_metrics, names) if result.final_metrics else None
    if metrics is not None:
        metrics["mistakes"] = _mistake_images(result.mistakes, names)
    last = Path(result.last_checkpoint or run_dir(run.pk) / "ckpt" / LAST_NAME)
    checkpoint, size = checkpoint_store_final(run_id=run.pk, path=last)
    ex.say("succeeded" + (f": {result.final_split} accuracy {metrics['accuracy']:.4f}" if metrics else ""))
    _finish(
        ex, run.Status.SUCCEEDED, epochs_done=result.epochs_completed, final_metrics=metrics,
        final_split=result.final_split or "", class_names=names, checkpoint=checkpoint, checkpoint_size=size,
    )  # fmt: skip
    return "succeeded"


def _finish(ex: _Execution, status: str, **fields: Any) -> None:
    ex.heartbeat.stop()  # the run ends here: nothing more to renew
    now = timezone.now()
    with transaction.atomic():
        ended = ex.owned().update(
            status=status, finished_at=now, updated_at=now, lease_owner="", lease_expires_at=None,
            log_tail="\n".join(ex.lines), **fields,
        )  # fmt: skip
        if ended:
            run_finished_emit(run_id=ex.run_id)
    if ended:  # an ended run is never resumed: its resume copies would only take space
        checkpoints_discard(run_id=ex.run_id)
