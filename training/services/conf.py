"""Training settings derived from the settings object (annotate/conf.py)."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings

from annotate.conf import options


def lease_seconds() -> float:
    """How long a run's lease lasts without a heartbeat; a dead worker's run can be taken over after it."""
    return options().TRAINING_LEASE_SECONDS


def max_attempts() -> int:
    """Executions a run may start; the next take-over ends it failed instead (a run that kills its worker)."""
    return max(1, options().TRAINING_MAX_ATTEMPTS)


def cancel_poll_seconds() -> float:
    """At most one database read of `cancel_requested` per this many seconds (checked before every batch)."""
    return options().TRAINING_CANCEL_POLL_SECONDS


def checkpoint_root() -> Path:
    return Path(options().CHECKPOINT_DIR or settings.VAR_DIR / "checkpoints")


def run_dir(run_id: int) -> Path:
    """Where a run's local checkpoints (last.pt, best.pt) and materialised data live on the worker."""
    return checkpoint_root() / f"run-{int(run_id)}"
