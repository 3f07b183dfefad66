"""Training settings: `settings.ANNOTATE[...]` when the lead adds them there, else the environment, else defaults."""

from __future__ import annotations

import os
from pathlib import Path

from django.conf import settings


def _setting(key: str, default: float) -> float:
    value = settings.ANNOTATE.get(key)
    if value is None:
        value = os.environ.get(f"ANNOTATE_{key}", default)
    return float(value)


def lease_seconds() -> float:
    """How long a run's lease lasts without a heartbeat; a dead worker's run can be taken over after it."""
    return _setting("TRAINING_LEASE_SECONDS", 300)


def cancel_poll_seconds() -> float:
    """At most one database read of `cancel_requested` per this many seconds (checked before every batch)."""
    return _setting("TRAINING_CANCEL_POLL_SECONDS", 1.0)


def checkpoint_root() -> Path:
    return Path(settings.ANNOTATE["CHECKPOINT_DIR"])


def run_dir(run_id: int) -> Path:
    """Where a run's local checkpoints (last.pt, best.pt) and materialised data live on the worker."""
    return checkpoint_root() / f"run-{int(run_id)}"
