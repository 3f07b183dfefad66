"""A run's checkpoints in the configured storage (Django's default storage: local media in development, S3 or
any other backend in production), so that an attempt on another machine resumes where the last one stopped.

- `checkpoints/run-<id>/resume/epoch-<NNNN>.pt`: the newest `last.pt` of the run, copied up each time rank 0
  wrote it (after every epoch, and after a pretrained probe) and *before* that epoch is recorded, so a recorded
  epoch is always covered by a stored checkpoint. The new object is written first, then the older ones are
  deleted: at every moment at least one complete checkpoint is stored. Fetching takes the newest that loads
  (an upload cut off half-way is skipped for the one before it).
- `checkpoints/run-<id>/final.pt`: the finished model (succeeded runs), what prediction reads. The resume
  copies are then deleted, as they are when the run ends cancelled or failed (it will not be resumed).
"""

from __future__ import annotations

import logging
import os
import re
import shutil
from pathlib import Path

from django.core.files import File
from django.core.files.storage import default_storage

from training.ml.checkpoint import LAST_NAME, CheckpointError, load_checkpoint

log = logging.getLogger(__name__)
_RESUME_FILE = re.compile(r"^epoch-(\d+)\.pt$")


def _resume_dir(run_id: int) -> str:
    return f"checkpoints/run-{int(run_id)}/resume"


def _put(name: str, path: Path) -> str:
    if default_storage.exists(name):  # same name again (a redone epoch): the newer bytes win
        default_storage.delete(name)
    with path.open("rb") as fh:
        return default_storage.save(name, File(fh, name=path.name))


def _stored_epochs(run_id: int) -> list[tuple[int, str]]:
    """(epoch, storage name) of the run's resume checkpoints, newest first."""
    folder = _resume_dir(run_id)
    try:
        _, files = default_storage.listdir(folder)
    except FileNotFoundError:
        return []
    found = [(int(m.group(1)), f"{folder}/{f}") for f in files if (m := _RESUME_FILE.match(f))]
    return sorted(found, reverse=True)


def checkpoint_store(*, run_id: int, path: Path, epoch: int) -> str:
    """Copy the local `last.pt` (completed `epoch`s) to storage as the run's resume point; older ones go."""
    name = _put(f"{_resume_dir(run_id)}/epoch-{int(epoch):04d}.pt", Path(path))
    for _, older in _stored_epochs(run_id):
        if older != name:
            default_storage.delete(older)
    return name


def checkpoint_fetch(*, run_id: int, checkpoint_dir: Path) -> int | None:
    """Put the run's newest loadable stored checkpoint at `checkpoint_dir/last.pt`; its epoch, or None (the
    directory is emptied first: what an earlier attempt left on this machine is not trusted over storage)."""
    checkpoint_dir = Path(checkpoint_dir)
    shutil.rmtree(checkpoint_dir, ignore_errors=True)
    checkpoint_dir.mkdir(parents=True)
    target = checkpoint_dir / LAST_NAME
    for epoch, name in _stored_epochs(run_id):
        tmp = checkpoint_dir / f".{LAST_NAME}.fetch"
        with default_storage.open(name, "rb") as src, tmp.open("wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
        try:
            state = load_checkpoint(tmp)
        except CheckpointError as exc:
            log.warning("run %s: stored checkpoint %s unusable (%s); trying an older one", run_id, name, exc)
            tmp.unlink(missing_ok=True)
            continue
        if int(state["epoch"]) != epoch:
            log.warning("run %s: %s holds epoch %s", run_id, name, state["epoch"])
        os.replace(tmp, target)
        return int(state["epoch"])
    return None


def checkpoints_discard(*, run_id: int) -> None:
    """Delete the run's resume checkpoints (the run ended: it is never resumed)."""
    for _, name in _stored_epochs(run_id):
        default_storage.delete(name)


def checkpoint_store_final(*, run_id: int, path: Path) -> tuple[str, int]:
    """Upload the finished model as `checkpoints/run-<id>/final.pt`; (storage name, size in bytes)."""
    path = Path(path)
    return _put(f"checkpoints/run-{int(run_id)}/final.pt", path), path.stat().st_size
