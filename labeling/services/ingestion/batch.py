"""Ingest batches: create, run (resumably), report.

`batch_run` is what both the Celery task and `manage.py ingest` call. It lists the source into
IngestEntry rows (idempotent: unique (batch, key_hash)), then processes the still-pending entries in
chunks: decoding, hashing and storing run in a thread pool; each chunk's database writes (images,
provenance, entry verdicts, counters) commit in one transaction. A killed run leaves whole chunks done
or not done, so a redelivered task simply continues with what is still pending.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractContextManager

from django.db import InterfaceError, OperationalError, connection, transaction
from django.db.models import Count, F
from django.utils import timezone
from django.utils.translation import gettext as _

from annotate.conf import options
from annotate.db import run_lock
from annotate.exceptions import ServiceError
from labeling.models import Category, IngestBatch, IngestEntry, Project, WebhookEvent
from labeling.services.ingestion import decoding
from labeling.services.ingestion.commit import ChunkWriter, Outcome
from labeling.services.ingestion.config import ingest_threads
from labeling.services.ingestion.fetch import url_fetch
from labeling.services.ingestion.sources import Source, SourceEntry, SourceError, key_hash, source_open
from labeling.services.ingestion.storage import blob_store, original_name, thumbnail_name
from labeling.services.ingestion.validation import Rejected
from labeling.services.items import items_create_from_sources
from labeling.services.webhooks import webhooks_emit

logger = logging.getLogger(__name__)
Progress = Callable[[int, int], None]
_LOCK_CLASS = 7_312  # first key of the advisory lock pair (batch id is the second)


def batch_create(
    *,
    project: Project,
    kind: str,
    source: str,
    default_category: Category | None = None,
    created_by=None,
) -> IngestBatch:
    if kind not in IngestBatch.Kind.values:
        raise ServiceError(f"Unknown source kind {kind!r}.", code="invalid_kind")
    if default_category is not None and default_category.project_id != project.id:
        raise ServiceError(_("The category belongs to another project."), code="invalid_category")
    return IngestBatch.objects.create(
        project=project, kind=kind, source=source, default_category=default_category, created_by=created_by
    )


def batch_start(*, batch: IngestBatch) -> None:
    """Queue the batch on the `ingest` queue once the surrounding transaction commits."""
    from labeling.tasks.ingest import run_batch

    transaction.on_commit(lambda: run_batch.delay(batch.id))


def batch_retry(*, batch: IngestBatch, enqueue: bool = True) -> IngestBatch:
    """Queue a failed batch again: its still-pending entries (a storage error, an interrupted run) are taken up
    where they stopped; decided entries stay as they are. The UI, the API and `manage.py ingest --retry` call
    this (the command with `enqueue=False`: it runs the batch in the foreground)."""
    with transaction.atomic():
        locked = IngestBatch.objects.select_for_update().get(pk=batch.pk)
        if locked.status != IngestBatch.Status.FAILED:
            raise ServiceError(_("Only a failed batch can be retried."), code="not_retryable", status_code=409)
        locked.status, locked.error, locked.finished_at = IngestBatch.Status.QUEUED, "", None
        locked.save(update_fields=["status", "error", "finished_at"])
        if enqueue:
            batch_start(batch=locked)
    return locked


def batch_report(*, batch: IngestBatch) -> dict:
    """The CLI/API contract: counts by outcome and rejections by reason code."""
    rejections = dict(
        batch.entries.filter(status=IngestEntry.Status.REJECTED)
        .values_list("reason_code")
        .annotate(n=Count("id"))
        .order_by("reason_code")
    )
    return {
        "batch": batch.id,
        "ingested": batch.ingested,
        "duplicates": batch.duplicates,
        "near_duplicates": batch.near_duplicates,
        "rejected": batch.rejected,
        "rejections": rejections,
    }


def _run_lock(batch_id: int) -> AbstractContextManager[bool]:
    """One runner per batch (annotate.db.run_lock); a killed runner's lock dies with its connection."""
    return run_lock(_LOCK_CLASS, batch_id)


def batch_run(*, batch_id: int, progress: Progress | None = None) -> IngestBatch:
    """Run (or resume) a batch to the end. Safe to call twice; a finished batch is left as it is."""
    with _run_lock(batch_id) as acquired:
        batch = IngestBatch.objects.select_related("project", "default_category").get(pk=batch_id)
        if not acquired:
            logger.info("ingest batch %s is being run elsewhere", batch_id)
            return batch
        if batch.status in {IngestBatch.Status.DONE, IngestBatch.Status.FAILED}:
            return batch
        batch.status = IngestBatch.Status.RUNNING
        batch.started_at = batch.started_at or timezone.now()
        batch.save(update_fields=["status", "started_at"])
        try:
            _list_entries(batch)
            _process_pending(batch, progress)
            items_create_from_sources(project=batch.project, batch=batch)
            unstored = batch.entries.filter(status=IngestEntry.Status.PENDING)
            left = unstored.count()
            if left:  # storage errors: resumable, the entries keep their place (batch_retry)
                first = unstored.exclude(message="").values_list("message", flat=True).first() or ""
                return _finish(batch, status=IngestBatch.Status.FAILED,
                               error=f"storage_error: {left} entries could not be stored ({first}); "
                                     "retry the batch to store them."[:2000])  # fmt: skip
        except SourceError as exc:
            return _finish(batch, status=IngestBatch.Status.FAILED, error=f"{exc.code}: {exc.message}")
        except (OperationalError, InterfaceError):
            raise  # the database went away: the batch stays running, and resumes (redelivery, or the beat)
        except Exception as exc:
            # Never "running" forever: whatever escaped the per-entry verdicts ends the batch with its reason,
            # and the task still fails visibly (the exception goes on to Celery's log).
            logger.exception("ingest batch %s failed", batch_id)
            _finish(
                batch, status=IngestBatch.Status.FAILED, error=f"internal_error: {type(exc).__name__}: {exc}"[:2000]
            )
            raise
        return _finish(batch, status=IngestBatch.Status.DONE)


def batch_resume_stale() -> list[int]:
    """Re-enqueue the running batches nobody is running (their worker died): the beat's job.

    A runner holds the batch's advisory lock for as long as it lives, so a free lock on a running batch
    means its runner is gone. Running it again is safe: a second runner of a live batch returns at once,
    and a finished batch is left as it is. PostgreSQL only (SQLite has no session locks: the broker's
    redelivery is the only path there).
    """
    if connection.vendor != "postgresql":
        return []
    from labeling.tasks.ingest import run_batch

    resumed = []
    for batch_id in IngestBatch.objects.filter(status=IngestBatch.Status.RUNNING).values_list("id", flat=True):
        with _run_lock(batch_id) as free:
            pass
        if free:
            run_batch.delay(batch_id)
            resumed.append(batch_id)
    if resumed:
        logger.warning("re-enqueued ingest batches whose runner died: %s", resumed)
    return resumed


def _finish(batch: IngestBatch, *, status: str, error: str = "") -> IngestBatch:
    ChunkWriter.recount(batch)
    with transaction.atomic():
        batch.status, batch.error, batch.finished_at = status, error, timezone.now()
        batch.save(update_fields=["status", "error", "finished_at"])
        webhooks_emit(project_id=batch.project_id, event=WebhookEvent.BATCH_FINISHED, data=_finished_payload(batch))
    return batch


def _finished_payload(batch: IngestBatch) -> dict:
    fields = ("status", "kind", "total", "ingested", "duplicates", "near_duplicates", "rejected", "error")
    return {"batch": batch.id, **{f: getattr(batch, f) for f in fields}}


def _entries(source: Source) -> Iterator[SourceEntry]:
    """The source's entries, each one storable: an entry with a NUL byte anywhere (PostgreSQL text cannot
    hold one) is kept, under a key with the byte spelled out, as its own rejected verdict."""
    for entry in source.entries():
        fields = (entry.key, entry.url, entry.category or "", entry.license, entry.attribution, entry.query)
        if any("\x00" in value for value in fields):
            yield SourceEntry(
                key=entry.key.replace("\x00", "\\x00"),
                error=Rejected("invalid_entry", "The entry contains a NUL byte; it is not read."),
            )
        else:
            yield entry


def _list_entries(batch: IngestBatch) -> None:
    rows: list[IngestEntry] = []
    with source_open(batch.kind, batch.source) as source:
        for entry in _entries(source):
            rows.append(IngestEntry(batch=batch, key=entry.key, key_hash=key_hash(entry.key)))
            if len(rows) >= 5000:
                IngestEntry.objects.bulk_create(rows, ignore_conflicts=True)
                rows = []
    IngestEntry.objects.bulk_create(rows, ignore_conflicts=True)
    batch.total = batch.entries.count()
    batch.save(update_fields=["total"])


def _reject_exhausted(batch: IngestBatch) -> None:
    """Entries taken up INGEST_MAX_ATTEMPTS times without a verdict are rejected, not retried for ever: their
    chunk killed the worker each time, or the storage refused them each time."""
    limit = options().INGEST_MAX_ATTEMPTS
    exhausted = batch.entries.filter(status=IngestEntry.Status.PENDING, attempts__gte=limit)
    exhausted.filter(message__startswith="storage_error").update(
        status=IngestEntry.Status.REJECTED, reason_code="storage_error"
    )
    exhausted.update(
        status=IngestEntry.Status.REJECTED,
        reason_code="too_many_attempts",
        message=f"Taken up {limit} times without a verdict (the worker stopped during its chunk each time).",
    )


def _process_pending(batch: IngestBatch, progress: Progress | None) -> None:
    _reject_exhausted(batch)
    pending = set(batch.entries.filter(status=IngestEntry.Status.PENDING).values_list("key_hash", flat=True))
    writer = ChunkWriter(batch)
    if progress:
        progress(batch.processed, batch.total)
    if not pending:
        return
    threads = options().FETCH_THREADS if batch.kind == IngestBatch.Kind.URLS else ingest_threads()
    chunk_size, chunk_bytes = options().INGEST_CHUNK_SIZE, options().INGEST_CHUNK_MAX_BYTES
    in_flight: list[list[tuple[SourceEntry, Future]]] = []
    with ThreadPoolExecutor(max_workers=threads) as pool, source_open(batch.kind, batch.source) as source:
        waiting: list[tuple[SourceEntry, object]] = []
        size = 0
        for entry in _entries(source):
            if key_hash(entry.key) not in pending:
                continue
            waiting.append((entry, _read_in_order(entry) if source.sequential else None))
            size += entry.size or 0
            if len(waiting) >= chunk_size or size >= chunk_bytes:  # bounded by count and by bytes
                in_flight.append(_start(pool, batch, waiting))
                waiting, size = [], 0
                if len(in_flight) > 1:  # keep one chunk decoding while the previous one is written
                    _write(writer, in_flight.pop(0), progress)
        if waiting:
            in_flight.append(_start(pool, batch, waiting))
        for done in in_flight:
            _write(writer, done, progress)


def _read_in_order(entry: SourceEntry) -> object:
    """A sequential source (a tar stream) is read as it is listed; None when nothing is to be read."""
    if entry.error is not None or entry.read is None:
        return None
    try:
        return entry.read()
    except Rejected as exc:
        return exc


def _start(
    pool: ThreadPoolExecutor, batch: IngestBatch, waiting: list[tuple[SourceEntry, object]]
) -> list[tuple[SourceEntry, Future]]:
    """Count an attempt for each entry of the chunk (committed before any of it is decoded), then submit it."""
    IngestEntry.objects.filter(batch=batch, key_hash__in=[key_hash(e.key) for e, _ in waiting]).update(
        attempts=F("attempts") + 1
    )
    return [(entry, _submit(pool, entry, data)) for entry, data in waiting]


def _write(writer: ChunkWriter, chunk: list[tuple[SourceEntry, Future]], progress: Progress | None) -> None:
    outcomes = [Outcome(entry=entry, prepared=None, rejected=None) for entry, _ in chunk]
    for outcome, (_entry, future) in zip(outcomes, chunk, strict=True):
        result = future.result()
        if isinstance(result, _StorageFailed):
            outcome.storage_error = result.message
        elif isinstance(result, Rejected):
            outcome.rejected = result
        else:
            outcome.prepared = result
    with transaction.atomic():
        writer.write(outcomes)
    if progress:
        progress(writer.batch.processed, writer.batch.total)


def _submit(pool: ThreadPoolExecutor, entry: SourceEntry, data: object) -> Future:
    if entry.error is not None:
        return _done(entry.error)
    if isinstance(data, Rejected):
        return _done(data)
    if isinstance(data, bytes):  # read in order already (a tar stream)
        return pool.submit(_prepare_bytes, data)
    return pool.submit(_prepare_entry, entry)


def _done(value: object) -> Future:
    future: Future = Future()
    future.set_result(value)
    return future


def _prepare_entry(entry: SourceEntry) -> object:
    try:
        data = url_fetch(entry.url) if entry.url else entry.read()  # type: ignore[misc]
    except Rejected as exc:
        return exc
    except OSError as exc:
        return Rejected("unreadable", f"Cannot read the file: {exc.strerror or exc}")
    return _prepare_bytes(data)


def _prepare_bytes(data: bytes) -> object:
    """Decode and hash one input in the decoding pool, then store it (runs in a thread; no database access)."""
    try:
        prepared = decoding.prepare(data)
    except Rejected as exc:
        return exc
    except Exception as exc:  # a decoder bug must not sink the batch: the entry is rejected and reported
        logger.exception("unexpected error while preparing an image")
        return Rejected("internal_error", f"Unexpected error while decoding: {type(exc).__name__}: {exc}")
    try:
        blob_store(name=original_name(prepared.sha256, prepared.ext), data=prepared.data)
        if not prepared.thumbnail_is_original:  # a small JPEG is its own thumbnail: one file, not two
            blob_store(name=thumbnail_name(prepared.sha256), data=prepared.thumbnail)
    except Exception as exc:  # OSError, the S3 client's errors: this entry waits for a later attempt
        logger.warning("ingest: storing %s failed: %s", prepared.sha256, exc)
        return _StorageFailed(f"storage_error: {type(exc).__name__}: {exc}"[:500])
    return prepared


class _StorageFailed:
    """The image was decoded but its file could not be stored (a full disk, an S3 outage): not a verdict."""

    def __init__(self, message: str) -> None:
        self.message = message
