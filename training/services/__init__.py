"""Training services: every write of the training app goes through these (see ../README.md)."""

from importlib import import_module
from typing import Any

from training.services.runs import (
    run_cancel,
    run_config,
    run_create,
    run_enqueue,
    run_predict_check,
    run_predict_enqueue,
    runs_resume_stale,
)
from training.services.voter import model_voter_apply

# These import torch; the web process never needs them, so they load on first use (workers, commands).
_HEAVY = {
    "run_execute": "training.services.execute",
    "predictions_create": "training.services.predictions",
    "predictions_refresh": "training.services.predictions",
    "version_materialise": "training.services.data",
    "version_features": "training.services.features",
    "label_errors_find": "training.services.label_errors",
    "zero_shot_apply": "training.services.zero_shot",
    "embeddings_compute": "training.services.embeddings",
}


def __getattr__(name: str) -> Any:
    if name in _HEAVY:
        return getattr(import_module(_HEAVY[name]), name)
    raise AttributeError(f"module 'training.services' has no attribute {name!r}")


__all__ = [
    "embeddings_compute",
    "label_errors_find",
    "model_voter_apply",
    "predictions_create",
    "predictions_refresh",
    "run_cancel",
    "run_config",
    "run_create",
    "run_enqueue",
    "run_execute",
    "run_predict_check",
    "run_predict_enqueue",
    "runs_resume_stale",
    "version_features",
    "version_materialise",
    "zero_shot_apply",
]
