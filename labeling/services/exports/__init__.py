"""Dataset exports, one module per format; `runner` holds the services that request and run them."""

from labeling.services.exports.runner import (
    FORMATS,
    dataset_export_request,
    dataset_export_run,
    dataset_exports_resume_stale,
    export_filename,
)

__all__ = [
    "FORMATS",
    "dataset_export_request",
    "dataset_export_run",
    "dataset_exports_resume_stale",
    "export_filename",
]
