"""Batches from files a researcher uploaded (browser or API): kept in storage, then run by the worker.

`batch_start_from_uploads` is the one upload -> batch -> start sequence the page and the API call. An archive
chosen as "image files" is recognised by its first bytes (never its name) and ingested as an archive.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from django.core.files.storage import default_storage
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils.translation import gettext as _

from annotate.exceptions import ServiceError
from labeling.models import Category, IngestBatch, Project
from labeling.services.ingestion.batch import batch_create, batch_start
from labeling.services.ingestion.sources import STORAGE_PREFIX
from labeling.services.projects import category_upsert

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
        raise ServiceError(_("Upload an image set, an archive or a URL list."), code="invalid_kind")
    if not files:
        raise ServiceError(_("No file was uploaded."), code="no_files")
    if kind != IngestBatch.Kind.UPLOAD and len(files) != 1:
        raise ServiceError(_("Upload exactly one archive or URL-list file."), code="one_file_expected")
    if kind != IngestBatch.Kind.UPLOAD and files[0].size > MAX_UPLOAD_ARCHIVE_BYTES:
        raise ServiceError(_("The file is too large."), code="too_large")
    folder = f"uploads/{uuid.uuid4().hex}"
    stored = [default_storage.save(f"{folder}/{_safe_name(f.name)}", f) for f in files]
    source = f"{STORAGE_PREFIX}{folder}/" if kind == IngestBatch.Kind.UPLOAD else f"{STORAGE_PREFIX}{stored[0]}"
    return batch_create(
        project=project, kind=kind, source=source, default_category=default_category, created_by=created_by
    )


# zip (local header, empty archive), gzip, bzip2, xz: what ArchiveSource opens (tar.* via tarfile's "r:*").
_ARCHIVE_MAGIC = (b"PK\x03\x04", b"PK\x05\x06", b"\x1f\x8b", b"BZh", b"\xfd7zXZ\x00")


def is_archive(upload: UploadedFile) -> bool:
    """A zip, a (compressed) tar: by magic bytes; a plain tar has "ustar" at offset 257."""
    upload.seek(0)
    head = upload.read(512)
    upload.seek(0)
    return head.startswith(_ARCHIVE_MAGIC) or head[257:262] == b"ustar"


def upload_kind(*, kind: str, files: Sequence[UploadedFile]) -> str:
    """The kind to ingest `files` as: image files that are one archive become an `archive` batch."""
    if kind != IngestBatch.Kind.UPLOAD or not files:
        return kind
    archives = sum(1 for f in files if is_archive(f))
    if archives and len(files) > 1:
        raise ServiceError(_("Upload an archive on its own, not together with other files."), code="one_file_expected")
    return IngestBatch.Kind.ARCHIVE if archives else kind


def batch_start_from_uploads(
    *, project: Project, kind: str, files: Sequence[UploadedFile], category: str = "", created_by=None
) -> IngestBatch:
    """Store the files, create the batch (with its candidate category, created if new) and queue it after commit."""
    kind = upload_kind(kind=kind, files=files)
    with transaction.atomic():
        default_category = category_upsert(project=project, name=category) if category else None
        batch = batch_create_from_uploads(
            project=project, kind=kind, files=files, default_category=default_category, created_by=created_by
        )
        batch_start(batch=batch)
    return batch
