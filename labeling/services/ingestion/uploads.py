"""Batches from files a researcher uploaded (browser or API): kept in storage, then run by the worker."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from django.core.files.storage import default_storage
from django.core.files.uploadedfile import UploadedFile

from annotate.exceptions import ServiceError
from labeling.models import Category, IngestBatch, Project
from labeling.services.ingestion.batch import batch_create
from labeling.services.ingestion.sources import STORAGE_PREFIX

MAX_UPLOAD_ARCHIVE_BYTES = 2 * 1024**3


def _safe_name(name: str) -> str:
    base = (name or "file").replace("\\", "/").rsplit("/", 1)[-1].lstrip(".") or "file"
    return default_storage.get_valid_name(base)[:150]


def batch_create_from_uploads(
    *,
    project: Project,
    kind: str,
    files: Sequence[UploadedFile],
    default_category: Category | None = None,
    created_by=None,
) -> IngestBatch:
    """`upload`: many image files; `archive`: one .zip/.tar(.gz); `urls`: one URL-list file (CSV or text)."""
    if kind not in {IngestBatch.Kind.UPLOAD, IngestBatch.Kind.ARCHIVE, IngestBatch.Kind.URLS}:
        raise ServiceError("Upload an image set, an archive or a URL list.", code="invalid_kind")
    if not files:
        raise ServiceError("No file was uploaded.", code="no_files")
    if kind != IngestBatch.Kind.UPLOAD and len(files) != 1:
        raise ServiceError("Upload exactly one archive or URL-list file.", code="one_file_expected")
    if kind != IngestBatch.Kind.UPLOAD and files[0].size > MAX_UPLOAD_ARCHIVE_BYTES:
        raise ServiceError("The file is too large.", code="too_large")
    folder = f"uploads/{uuid.uuid4().hex}"
    stored = [default_storage.save(f"{folder}/{_safe_name(f.name)}", f) for f in files]
    source = f"{STORAGE_PREFIX}{folder}/" if kind == IngestBatch.Kind.UPLOAD else f"{STORAGE_PREFIX}{stored[0]}"
    return batch_create(
        project=project, kind=kind, source=source, default_category=default_category, created_by=created_by
    )
