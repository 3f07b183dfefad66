"""A collection run: plan the queries, search every source, keep licensed candidates with provenance, and feed
them to the normal URL ingest (SSRF-safe fetch, validation, dedupe, thumbnails, items). See README.md here.

Resumable like an ingest batch: queries are rows (searched once: `done`/`failed`), candidates are unique per
(query, rank), the URL list and its batch are made once (run.batch), and batch_run itself resumes. A killed
worker's run continues where it stopped when the task is redelivered.
"""

from __future__ import annotations

import csv
import io
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import InterfaceError, OperationalError, connection, transaction
from django.db.models import Count, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from annotate.conf import options
from annotate.db import run_lock
from annotate.exceptions import ServiceError
from labeling.models import (
    Category,
    CollectionCandidate,
    CollectionQuery,
    CollectionRun,
    ImageSource,
    IngestBatch,
    IngestEntry,
    Project,
)
from labeling.services.collection.licenses import license_allowed
from labeling.services.collection.queries import QuerySpec, category_queries
from labeling.services.collection.sources import SOURCES, SearchError, source_get
from labeling.services.ingestion.batch import batch_create, batch_run
from labeling.services.ingestion.sources import STORAGE_PREFIX, key_hash

logger = logging.getLogger(__name__)
_LOCK_CLASS = 7_313
Outcome = CollectionCandidate.Outcome


@dataclass(frozen=True)
class CategoryPlan:
    category: Category
    queries: list[QuerySpec]


def collection_plan(*, project: Project) -> list[CategoryPlan]:
    """The queries of every category of the project (what `collect --dry-run` prints)."""
    categories = list(project.categories.select_related("parent").order_by("id"))
    languages = [lang for lang in (project.collect_languages or []) if lang != "en"]
    languages.sort(key=lambda lang: lang != "zh-Hans")  # zh-Hans first, then as listed (a stable sort)
    plans = []
    for c in categories:
        queries = category_queries(name=c.name, synonyms=list(c.synonyms or []), wnid=c.wnid,
                                   parent_name=c.parent.name if c.parent else "", names=dict(c.names or {}),
                                   languages=languages)  # fmt: skip
        plans.append(CategoryPlan(c, queries))
    return plans


def collection_run_create(
    *, project: Project, sources: list[str] | None = None, per_category: int = 100, created_by=None
) -> CollectionRun:
    sources = list(dict.fromkeys(sources or options().COLLECT_DEFAULT_SOURCES))
    unknown = [s for s in sources if s not in SOURCES]
    if unknown or not sources:
        raise ServiceError(_("Unknown search source: %(names)s.") % {"names": ", ".join(unknown) or "none"},
                           code="unknown_source")  # fmt: skip
    if not 1 <= per_category <= 10_000:
        raise ServiceError(_("Candidates per category must be between 1 and 10000."), code="invalid_per_category")
    plan = collection_plan(project=project)
    if not plan:
        raise ServiceError(_("The project has no categories to collect for."), code="no_categories")
    with transaction.atomic():
        run = CollectionRun.objects.create(project=project, created_by=created_by, sources=sources,
                                           per_category=per_category)  # fmt: skip
        rows, position = [], 0
        for entry in plan:
            for spec in entry.queries:
                for source in sources:
                    rows.append(
                        CollectionQuery(
                            run=run,
                            category=entry.category,
                            source=source,
                            text=spec.text,
                            language=spec.language,
                            kind=spec.kind,
                            position=position,
                        )
                    )
                    position += 1
        CollectionQuery.objects.bulk_create(rows)
        run.queries_total = len(rows)
        run.save(update_fields=["queries_total"])
    return run


def collection_start(*, run: CollectionRun) -> None:
    """Queue the run on the `ingest` queue once the surrounding transaction commits."""
    from labeling.tasks.collection import collect_run

    transaction.on_commit(lambda: collect_run.delay(run.id))


Progress = Callable[[CollectionRun], None]


def collection_run(*, run_id: int, progress: Progress | None = None) -> CollectionRun:
    """Run (or resume) a collection to the end; a finished run is left as it is."""
    with run_lock(_LOCK_CLASS, run_id) as acquired:
        run = CollectionRun.objects.select_related("project").get(pk=run_id)
        if not acquired or run.status in (CollectionRun.Status.DONE, CollectionRun.Status.FAILED):
            return run
        try:
            if run.batch_id is None:
                _search(run, progress)
                _make_batch(run)
            _ingest(run, progress)
        except (OperationalError, InterfaceError):
            raise  # the database went away: the run resumes on redelivery
        except Exception as exc:
            logger.exception("collection run %s failed", run_id)
            _finish(run, CollectionRun.Status.FAILED, f"internal_error: {type(exc).__name__}: {exc}"[:2000])
            raise
        return run


def collection_resume_stale() -> list[int]:
    """Re-enqueue the unfinished runs nobody is running (their worker died): the beat's job, as for ingest batches.
    A runner holds the run's advisory lock while it lives. PostgreSQL only (SQLite has no session locks)."""
    if connection.vendor != "postgresql":
        return []
    from labeling.tasks.collection import collect_run

    unfinished = (CollectionRun.Status.SEARCHING, CollectionRun.Status.INGESTING)
    resumed = []
    for run_id in CollectionRun.objects.filter(status__in=unfinished).values_list("id", flat=True):
        with run_lock(_LOCK_CLASS, run_id) as free:
            pass
        if free:
            collect_run.delay(run_id)
            resumed.append(run_id)
    if resumed:
        logger.warning("re-enqueued collection runs whose runner died: %s", resumed)
    return resumed


def _search(run: CollectionRun, progress: Progress | None) -> None:
    run.status, run.started_at = CollectionRun.Status.SEARCHING, run.started_at or timezone.now()
    run.save(update_fields=["status", "started_at"])
    per_category = dict(run.queries.values_list("category_id").annotate(n=Count("id")))
    sources = {name: source_get(name) for name in run.sources}
    for query in run.queries.filter(status=CollectionQuery.Status.PENDING).order_by("position"):
        limit = max(1, math.ceil(run.per_category / per_category[query.category_id]))
        try:
            hits = sources[query.source].search(query.text, limit=limit, language=query.language)
        except SearchError as exc:
            query.status, query.error = CollectionQuery.Status.FAILED, f"{exc.code}: {exc.message}"[:2000]
            query.save(update_fields=["status", "error"])
        else:
            with transaction.atomic():
                CollectionCandidate.objects.bulk_create(
                    [CollectionCandidate(query=query, rank=rank, url=hit.url[:4000], page_url=hit.page_url[:4000],
                                         title=hit.title[:300], author=hit.author[:300], license=hit.license,
                                         license_url=hit.license_url[:4000])
                     for rank, hit in enumerate(hits, start=1) if "\x00" not in hit.url],
                    ignore_conflicts=True,
                )  # fmt: skip
                query.status = CollectionQuery.Status.DONE
                query.save(update_fields=["status"])
        run.queries_done = run.queries.exclude(status=CollectionQuery.Status.PENDING).count()
        run.save(update_fields=["queries_done"])
        if progress:
            progress(run)


def _attribution(c: CollectionCandidate, source: str) -> str:
    parts = [f'"{c.title}"' if c.title else "", f"by {c.author}" if c.author else "",
             c.license.upper(),
             c.page_url, f"via {source}"]  # fmt: skip
    return ", ".join(p for p in parts if p)[:500]


def _make_batch(run: CollectionRun) -> None:
    """Judge every candidate (first of its URL and category? licence allowed? already in the project?) and write
    the URL list of the kept ones with their licence, attribution and query; one batch, made once."""
    project = run.project
    allowed = list(project.allowed_licenses or [])
    known = set(ImageSource.objects.filter(project=project).values_list("source_uri", "candidate_category_id"))
    seen: set[tuple[str, int]] = set()
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["url", "category", "license", "attribution", "query"])
    candidates = (
        CollectionCandidate.objects.filter(query__run=run)
        .select_related("query__category")
        .order_by("query__position", "rank")
    )
    updates = []
    for c in candidates:
        category = c.query.category
        pair = (c.url, category.id)
        c.first = pair not in seen
        seen.add(pair)
        if not license_allowed(c.license, allowed):
            c.outcome = Outcome.LICENSE_REFUSED
        elif not c.first or pair in known:
            c.outcome = Outcome.DUPLICATE
        else:
            writer.writerow([c.url, category.name, c.license, _attribution(c, c.query.source), c.query.text[:500]])
            c.entry_key_hash = key_hash(f"{c.url}\t{category.name}")
        updates.append(c)
    name = default_storage.save(f"collections/run-{run.pk}/urls.csv", ContentFile(out.getvalue().encode()))
    with transaction.atomic():
        CollectionCandidate.objects.bulk_update(updates, ["first", "outcome", "entry_key_hash"], batch_size=500)
        batch = batch_create(project=project, kind=IngestBatch.Kind.URLS, source=f"{STORAGE_PREFIX}{name}",
                             created_by=run.created_by)  # fmt: skip
        run.batch, run.status = batch, CollectionRun.Status.INGESTING
        run.candidates = len(updates)
        run.unique_candidates = len(seen)
        run.save(update_fields=["batch", "status", "candidates", "unique_candidates"])


def _ingest(run: CollectionRun, progress: Progress | None) -> None:
    batch = batch_run(batch_id=run.batch_id)
    entries = {
        e.key_hash: e
        for e in IngestEntry.objects.filter(batch=batch).only("key_hash", "status", "reason_code", "image_id")
    }
    first_image: dict[tuple[str, int], int | None] = {}
    updates = []
    candidates = (
        CollectionCandidate.objects.filter(query__run=run).select_related("query").order_by("query__position", "rank")
    )
    for c in candidates:
        pair = (c.url, c.query.category_id)
        if c.entry_key_hash:
            entry = entries.get(c.entry_key_hash)
            if entry is None or entry.status == IngestEntry.Status.PENDING:
                continue
            c.image_id = entry.image_id
            if entry.status == IngestEntry.Status.INGESTED:
                c.outcome = Outcome.INGESTED
            elif entry.status in (IngestEntry.Status.DUPLICATE, IngestEntry.Status.NEAR_DUPLICATE):
                c.outcome, c.reason_code = Outcome.DUPLICATE, entry.status
            else:
                c.outcome, c.reason_code = Outcome.REJECTED, entry.reason_code
            first_image[pair] = entry.image_id
        updates.append(c)
    for c in updates:
        if c.outcome == Outcome.DUPLICATE and not c.entry_key_hash and c.image_id is None:
            c.image_id = first_image.get((c.url, c.query.category_id))
    if batch.status == IngestBatch.Status.FAILED:
        _finish(run, CollectionRun.Status.FAILED, f"ingest batch {batch.pk} failed: {batch.error}"[:2000], updates)
    else:
        _finish(run, CollectionRun.Status.DONE, "", updates)
    if progress:
        progress(run)


def _finish(run: CollectionRun, status: str, error: str, updates: list | None = None) -> None:
    with transaction.atomic():
        if updates:
            CollectionCandidate.objects.bulk_update(updates, ["image", "outcome", "reason_code"], batch_size=500)
        run.status, run.error, run.finished_at = status, error, timezone.now()
        run.save(update_fields=["status", "error", "finished_at"])


def collection_counts(*, run: CollectionRun) -> dict:
    """Candidates by outcome (the CLI/API report)."""
    counts = CollectionCandidate.objects.filter(query__run=run).aggregate(
        **{o.value: Count("id", filter=Q(outcome=o.value)) for o in Outcome}
    )
    return {"run": run.pk, "status": run.status, "queries": run.queries_total, "candidates": run.candidates,
            "unique": run.unique_candidates, **counts, "batch": run.batch_id, "error": run.error}  # fmt: skip
