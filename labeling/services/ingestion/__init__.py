"""Crawled-image ingestion: sources -> validation -> content-addressed storage -> dedupe -> provenance.

Public entry points: `batch_create`, `batch_create_from_uploads`, `batch_run`, `batch_report`, `batch_retry`,
`batch_resume_stale` (the beat's).
See README.md beside this file for the design.

The names are imported on first use (PEP 562): a decoding process (decoding.py) imports validation.py
from this package without Django's app registry, which importing batch.py (the models) would need.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from labeling.services.ingestion.batch import (
        batch_create,
        batch_report,
        batch_resume_stale,
        batch_retry,
        batch_run,
    )
    from labeling.services.ingestion.uploads import batch_create_from_uploads

_MODULES = {
    "batch_create": "batch",
    "batch_report": "batch",
    "batch_resume_stale": "batch",
    "batch_retry": "batch",
    "batch_run": "batch",
    "batch_create_from_uploads": "uploads",
}
__all__ = [
    "batch_create",
    "batch_create_from_uploads",
    "batch_report",
    "batch_resume_stale",
    "batch_retry",
    "batch_run",
]


def __getattr__(name: str) -> Any:
    if name not in _MODULES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_MODULES[name]}"), name)
