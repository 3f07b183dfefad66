"""Crawled-image ingestion: sources -> validation -> content-addressed storage -> dedupe -> provenance.

Public entry points: `batch_create`, `batch_create_from_uploads`, `batch_run`, `batch_report`,
`batch_resume_stale` (the beat's).
See README.md beside this file for the design.
"""

from labeling.services.ingestion.batch import batch_create, batch_report, batch_resume_stale, batch_run
from labeling.services.ingestion.uploads import batch_create_from_uploads

__all__ = ["batch_create", "batch_create_from_uploads", "batch_report", "batch_resume_stale", "batch_run"]
