"""Training services: every write of the training app goes through these (see ../README.md)."""

from training.services.data import version_materialise
from training.services.execute import run_execute
from training.services.predictions import predictions_create, predictions_refresh
from training.services.runs import run_cancel, run_config, run_create, run_enqueue, runs_resume_stale
from training.services.voter import model_voter_apply

__all__ = [
    "model_voter_apply",
    "predictions_create",
    "predictions_refresh",
    "run_cancel",
    "run_config",
    "run_create",
    "run_enqueue",
    "run_execute",
    "runs_resume_stale",
    "version_materialise",
]
