"""Request and run an export: streamed to a temporary file, then saved through Django's storage API.

`dataset_export_run` is idempotent (a done export is returned as is; a queued, running or crashed one is
rewritten from scratch), so the Celery task can be acked late and redelivered after a worker loss.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import tempfile
import time
from pathlib import Path
from types import ModuleType
from typing import Any

from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from annotate.conf import options as options_
from annotate.db import run_lock
from annotate.exceptions import ServiceError
from labeling.models import DatasetExport, DatasetVersion, Project, WebhookEvent
from labeling.services.exports import coco, csv, imagefolder, jsonl, raw_votes, voc, webdataset, yolo
from labeling.services.webhooks import webhooks_emit

logger = logging.getLogger(__name__)

FORMATS: dict[str, ModuleType] = {
    DatasetExport.Format.IMAGEFOLDER: imagefolder,
    DatasetExport.Format.CSV: csv,
    DatasetExport.Format.JSONL: jsonl,
    DatasetExport.Format.COCO: coco,
    DatasetExport.Format.WEBDATASET: webdataset,
    DatasetExport.Format.RAW_VOTES: raw_votes,
    DatasetExport.Format.YOLO: yolo,
    DatasetExport.Format.VOC: voc,
}
_ACTIVE = (DatasetExport.Status.QUEUED, DatasetExport.Status.RUNNING, DatasetExport.Status.DONE)
_PROGRESS_EVERY_S = 0.5
_BUFFER = 1024 * 1024
_LOCK_CLASS = 7_313  # first key of the advisory lock pair (export id is the second); ingest uses 7312


class _SpooledOnDisk(File):
    """A finished temporary file; FileSystemStorage moves it (see `temporary_file_path`)."""

    def temporary_file_path(self) -> str:
        return self.file.name


def export_filename(export: DatasetExport) -> str:
    """Download name, built from the (slugified) project slug and numbers only."""
    version = export.version
    variant = (export.options or {}).get("folder_names")  # imagefolder by WordNet id: its own name
    fmt = f"{export.format}-{variant}" if variant in ("wnid",) else export.format
    return f"{version.project.slug}-v{version.number}-{fmt}{FORMATS[export.format].EXTENSION}"


def dataset_export_request(
    *,
    version: DatasetVersion,
    fmt: str,
    created_by: Any = None,
    options: dict[str, Any] | None = None,
    enqueue: bool = True,
) -> DatasetExport:
    """A queued export of `version` in `fmt`; an existing queued/running/done one with the same options is
    returned instead (a version never changes, so neither does its export). Enqueued after commit."""
    if fmt not in FORMATS:
        raise ServiceError(f"Unknown export format {fmt!r}; use one of {', '.join(FORMATS)}.", code="invalid_format")
    if getattr(FORMATS[fmt], "BOX_PROJECTS_ONLY", False) and version.project.task_type != Project.TaskType.BOXES:
        raise ServiceError(
            _("%(format)s exports are for bounding-box projects.") % {"format": fmt}, code="invalid_format"
        )
    options = _clean_options(fmt, options or {})
    key = options_key(fmt, options)
    with transaction.atomic():
        # One request per project at a time (the row lock), so the cap below holds under concurrency too; the
        # unique constraint on (version, format, options_key) is the last word on duplicates.
        Project.objects.select_for_update(no_key=True).filter(pk=version.project_id).first()
        existing = _live(version, fmt, key)
        if existing is not None:
            return existing
        limit = options_().EXPORT_MAX_ACTIVE
        busy = DatasetExport.objects.filter(
            version__project_id=version.project_id,
            status__in=(DatasetExport.Status.QUEUED, DatasetExport.Status.RUNNING),
        ).count()
        if busy >= limit:
            raise ServiceError(
                _("This project already has %(n)s exports queued or running; wait for one to finish.") % {"n": busy},
                code="too_many_exports",
                status_code=429,
            )
        try:
            with transaction.atomic():
                export = DatasetExport.objects.create(
                    version=version, format=fmt, created_by=created_by, options=options, options_key=key
                )
        except IntegrityError:  # the same export was requested at the same moment (outside the lock: SQLite)
            existing = _live(version, fmt, key)
            if existing is None:
                raise
            return existing
    if enqueue:
        from labeling.tasks.exports import dataset_export

        transaction.on_commit(lambda: dataset_export.delay(export.id))
    return export


def options_key(fmt: str, options: dict[str, Any]) -> str:
    """The canonical form of an export's options (cleaned by `_clean_options`): sorted, compact JSON."""
    return f"{fmt}:{json.dumps(options, sort_keys=True, separators=(',', ':'))}"[:180]


def _live(version: DatasetVersion, fmt: str, key: str) -> DatasetExport | None:
    return (
        DatasetExport.objects.filter(version=version, format=fmt, options_key=key, status__in=_ACTIVE)
        .order_by("-id")
        .first()
    )


def _clean_options(fmt: str, options: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    folder_names = options.get("folder_names") or "index"
    if fmt == DatasetExport.Format.IMAGEFOLDER and folder_names != "index":
        if folder_names not in imagefolder.FOLDER_NAMES:
            raise ServiceError("folder_names must be index or wnid.", code="invalid_folder_names")
        out["folder_names"] = folder_names  # index, the default, stays implicit: old exports keep matching
    if fmt == DatasetExport.Format.WEBDATASET and options.get("shard_mb") is not None:
        try:
            shard_mb = float(options["shard_mb"])
        except (TypeError, ValueError):
            shard_mb = -1.0
        if not (math.isfinite(shard_mb) and 0.01 <= shard_mb <= 100_000):
            raise ServiceError("shard_mb must be between 0.01 and 100000.", code="invalid_shard_size")
        out["shard_mb"] = float(f"{shard_mb:.2g}")  # two significant digits: 5.000 ... 5.011 are one export
    return out


def dataset_export_run(*, export_id: int) -> DatasetExport | None:
    """Write the export (foreground). Returns None when the export row no longer exists.

    Every failure after the export is claimed ends it FAILED with a message, and is raised again so that
    the Celery task fails visibly. One runner per export (an advisory lock held for the whole run): a
    second delivery of a running export returns at once, and `dataset_exports_resume_stale` (the beat)
    re-enqueues a running export whose runner died.
    """
    with run_lock(_LOCK_CLASS, export_id) as acquired:
        if not acquired:
            logger.info("export %s is being written elsewhere", export_id)
            return DatasetExport.objects.filter(pk=export_id).first()
        export = _claim(export_id)
        if export is None or export.status == DatasetExport.Status.DONE:
            return export
        try:
            return _write(export)
        except Exception as exc:
            logger.exception("export %s failed", export_id)
            _mark_failed(export_id, exc)
            raise


def dataset_exports_resume_stale() -> list[int]:
    """Re-enqueue the running exports nobody is writing (their worker died): the beat's job."""
    if connection.vendor != "postgresql":
        return []
    from labeling.tasks.exports import dataset_export

    resumed = []
    for export_id in DatasetExport.objects.filter(status=DatasetExport.Status.RUNNING).values_list("id", flat=True):
        with run_lock(_LOCK_CLASS, export_id) as free:
            pass
        if free:
            dataset_export.delay(export_id)
            resumed.append(export_id)
    if resumed:
        logger.warning("re-enqueued exports whose worker died: %s", resumed)
    return resumed


def _claim(export_id: int) -> DatasetExport | None:
    with transaction.atomic():
        export = DatasetExport.objects.select_for_update().filter(pk=export_id).first()
        if export is None or export.status == DatasetExport.Status.DONE:
            return export
        export.status, export.progress, export.error = DatasetExport.Status.RUNNING, 0.0, ""
        export.started_at = timezone.now()
        export.save(update_fields=["status", "progress", "error", "started_at"])
    return export


def _mark_failed(export_id: int, exc: Exception) -> None:
    """Best effort: if the database itself is gone, the export stays running and the beat resumes it."""
    try:
        with transaction.atomic():
            error = f"{type(exc).__name__}: {exc}"[:2000]
            DatasetExport.objects.filter(pk=export_id).update(
                status=DatasetExport.Status.FAILED, error=error, finished_at=timezone.now()
            )
            export = DatasetExport.objects.select_related("version").filter(pk=export_id).first()
            if export is not None:
                _emit_ready(export, export.version)
    except DatabaseError:
        logger.exception("export %s: could not record the failure", export_id)


def _emit_ready(export: DatasetExport, version: DatasetVersion) -> None:
    """`export.ready` for the project's webhooks, done or failed (in the caller's transaction)."""
    done = export.status == DatasetExport.Status.DONE
    data = {"export": export.pk, "version": version.number, "version_id": version.pk, "format": export.format,
            "status": export.status, "size": export.size, "items": export.items_count, "error": export.error,
            "download_url": reverse("api-export-download", args=[export.pk]) if done else None}  # fmt: skip
    webhooks_emit(project_id=version.project_id, event=WebhookEvent.EXPORT_READY, data=data)


def _write(export: DatasetExport) -> DatasetExport | None:
    version = DatasetVersion.objects.select_related("project").get(pk=export.version_id)
    module = FORMATS[export.format]
    last = [0.0]

    def progress(fraction: float) -> None:
        now = time.monotonic()
        if now - last[0] >= _PROGRESS_EVERY_S:
            last[0] = now
            DatasetExport.objects.filter(pk=export.pk).update(progress=min(max(fraction, 0.0), 0.99))

    tmp_dir = Path(settings.VAR_DIR) / "tmp"
    tmp_dir.mkdir(parents=True, exist_ok=True)
    tmp_path = ""
    try:
        # Written next to MEDIA_ROOT, so FileSystemStorage moves it into place instead of copying it
        # (it honours `temporary_file_path`); other storages upload it from disk in chunks.
        # A 1 MiB buffer: members are small writes, and each flush gives the GIL to the image-reading threads.
        with tempfile.NamedTemporaryFile(dir=tmp_dir, suffix=module.EXTENSION, delete=False, buffering=_BUFFER) as tmp:
            tmp_path = tmp.name
            count = module.write(version, tmp, progress, export.options)
            size = tmp.tell()
            tmp.flush()
            tmp.seek(0)
            if export.file:
                default_storage.delete(export.file.name)
            path = f"exports/{version.project_id}/{version.id}/{export.id}-{export.format}{module.EXTENSION}"
            name = default_storage.save(path, _SpooledOnDisk(tmp, name=path))
    finally:
        if tmp_path:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp_path)
    try:
        with transaction.atomic():
            current = DatasetExport.objects.select_for_update().filter(pk=export.pk).first()
            if current is None:
                default_storage.delete(name)
                return None
            current.file.name = name
            current.size, current.items_count, current.progress = size, count, 1.0
            current.status, current.finished_at = DatasetExport.Status.DONE, timezone.now()
            current.save(update_fields=["file", "size", "items_count", "progress", "status", "finished_at"])
            _emit_ready(current, version)
    except Exception:
        default_storage.delete(name)  # no row points at it: never leave an orphan file
        raise
    return current
