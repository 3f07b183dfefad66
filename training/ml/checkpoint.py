"""Checkpoints: atomic rank-0 writes, safe reads.

A checkpoint is a dict of plain types and tensors only (model/optimizer/scheduler/scaler state dicts,
epoch, config as a dict, per-epoch history, class names), so it loads with `torch.load(weights_only=True)`:
a crafted pickle that would run code on load is refused with CheckpointError instead of being executed.
Writes go to a temporary file in the same directory, then `os.replace`, so a crash or a cancel never
leaves a half-written `last.pt` behind.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

LAST_NAME = "last.pt"
BEST_NAME = "best.pt"
FORMAT_VERSION = 1
REQUIRED_KEYS = ("format_version", "model", "epoch", "config", "history", "classes")


class CheckpointError(Exception):
    """A checkpoint file is missing, unreadable, unsafe (not loadable with weights_only) or incomplete."""


def save_checkpoint(state: dict[str, Any], path: str | Path, *, is_main: bool = True) -> Path | None:
    """Write `state` atomically to `path` on the main process; other ranks return None without writing."""
    if not is_main:
        return None
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with tmp.open("wb") as fh:
            torch.save(state, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    try:  # make the rename durable; not possible on every platform/filesystem
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError:
        pass
    return path


def _safe_load(path: str | Path, map_location: str | torch.device) -> Any:
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except FileNotFoundError as exc:
        raise CheckpointError(f"checkpoint not found: {path}") from exc
    except Exception as exc:  # UnpicklingError for forbidden globals, RuntimeError for corrupt archives, ...
        raise CheckpointError(f"refusing to load {path}: not a safe weights-only checkpoint ({exc})") from exc


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint written by `save_checkpoint`; CheckpointError if unsafe, corrupt or incomplete."""
    state = _safe_load(path, map_location)
    if not isinstance(state, dict):
        raise CheckpointError(f"{path}: expected a dict, got {type(state).__name__}")
    missing = [k for k in REQUIRED_KEYS if k not in state]
    if missing:
        raise CheckpointError(f"{path}: not a training checkpoint (missing {missing})")
    if state["format_version"] != FORMAT_VERSION:
        raise CheckpointError(f"{path}: unsupported checkpoint format {state['format_version']}")
    return state


def load_state_dict_file(path: str | Path) -> dict[str, torch.Tensor]:
    """A model state dict from a plain state-dict file or from a checkpoint's "model"/"state_dict" entry."""
    state = _safe_load(path, "cpu")
    if isinstance(state, dict):
        for key in ("model", "state_dict"):
            if isinstance(state.get(key), dict):
                state = state[key]
                break
    if not isinstance(state, dict) or not any(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"{path}: no model state dict inside")
    return state


def latest_checkpoint(checkpoint_dir: str | Path | None) -> Path | None:
    """`last.pt` in the directory, if any."""
    if not checkpoint_dir:
        return None
    path = Path(checkpoint_dir) / LAST_NAME
    return path if path.is_file() else None


def build_state(
    *,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    scaler: torch.amp.GradScaler | None,
    epoch: int,
    config: dict[str, Any],
    history: list[dict[str, Any]],
    classes: list[str],
) -> dict[str, Any]:
    """The checkpoint dict. `epoch` counts completed epochs; `model` is the unwrapped (non-DDP) module."""
    return {
        "format_version": FORMAT_VERSION,
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "scaler": scaler.state_dict() if scaler is not None and scaler.is_enabled() else None,
        "epoch": epoch,
        "config": config,
        "history": history,
        "classes": list(classes),
        # RNG streams (augmentation, dropout, shuffling on rank 0), so a single-process CPU resume with
        # workers=0 continues bit-for-bit; elsewhere resume is statistically, not bitwise, equivalent.
        "rng_cpu": torch.get_rng_state(),
        "rng_cuda": torch.cuda.get_rng_state() if torch.cuda.is_available() and torch.cuda.is_initialized() else None,
    }


def restore_rng(state: dict[str, Any]) -> None:
    """Put back the RNG streams saved by `build_state` (ignored when absent)."""
    if isinstance(state.get("rng_cpu"), torch.Tensor):
        torch.set_rng_state(state["rng_cpu"].cpu())
    if isinstance(state.get("rng_cuda"), torch.Tensor) and torch.cuda.is_available():
        torch.cuda.set_rng_state(state["rng_cuda"].cpu())
