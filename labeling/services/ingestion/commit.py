"""The database side of a batch chunk: images, provenance, entry verdicts and counters, in one transaction.

A chunk costs a fixed handful of queries whatever its size: one read each for its entries, known images and
provenance, two bulk inserts of images (canonicals first, then near-duplicates pointing at them), one bulk
insert of provenance, one UPDATE ... FROM (VALUES ...) for the verdicts, and the counter refresh.

Image rows are per project (models/images.py): bytes this project already holds are a `duplicate`; bytes
only another project holds get a fresh row here (the file is shared, content-addressed), go through the
near-duplicate lookup like any new image, and nothing of the other project (its image ids, its clusters)
shows in the verdict. A near-duplicate cluster's canonical image is its best copy: the most pixels, then the
most bytes (a higher JPEG quality); a better copy arriving in the same run takes the canonical's place.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction
from django.db.models import Count, Q

from annotate.db import bulk_update_values
from annotate.exceptions import ServiceError
from labeling.models import Category, Image, ImageSource, IngestBatch, IngestEntry, Project
from labeling.services.ingestion.dedupe import near_dup_find, near_dup_index_build
from labeling.services.ingestion.sources import SourceEntry, key_hash
from labeling.services.ingestion.storage import original_name, thumbnail_name
from labeling.services.ingestion.validation import PreparedImage, Rejected
from labeling.services.projects import category_upsert

VERDICT_FIELDS = ["status", "reason_code", "message", "image", "category"]

Status = IngestEntry.Status


@dataclass
class Outcome:
    entry: SourceEntry
    prepared: PreparedImage | None
    rejected: Rejected | None
    storage_error: str = ""  # the file could not be stored: the entry stays pending (attempt counted)


class ChunkWriter:
    """Holds the per-run state: the near-duplicate index and the category cache of the project."""

    def __init__(self, batch: IngestBatch) -> None:
        self.batch = batch
        self.project: Project = batch.project
        self.index = near_dup_index_build(project=self.project)
        self._categories: dict[str, Category] = {}
        self._row_of: dict[int, IngestEntry] = {}  # id(Image) -> the entry that stored it (this chunk)
        self._demoted: list[tuple[Image, Image]] = []  # (old canonical from an earlier chunk, its better copy)

    def _category(self, name: str | None) -> Category | None:
        if not name:
            return self.batch.default_category
        if name not in self._categories:
            # A savepoint, once per name (not per entry): a refused category must not break the chunk's
            # transaction.
            with transaction.atomic():
                found = (
                    Category.objects.filter(project=self.project, name=name).first()
                    or Category.objects.filter(project=self.project, wnid=name).first()
                    or category_upsert(project=self.project, name=name)
                )
            self._categories[name] = found
        return self._categories[name]

    def write(self, outcomes: list[Outcome]) -> None:
        rows = {
            e.key_hash: e
            for e in IngestEntry.objects.select_for_update().filter(
                batch=self.batch, key_hash__in=[key_hash(o.entry.key) for o in outcomes]
            )
        }
        shas = [o.prepared.sha256 for o in outcomes if o.prepared]
        # This project's rows only (and older global rows it uses): another project's images are never seen.
        mine = Q(project=self.project) | Q(project__isnull=True, sources__project=self.project)
        images = {img.sha256: img for img in Image.objects.filter(mine, sha256__in=shas).distinct()}
        in_project = set(
            ImageSource.objects.filter(project=self.project, image__sha256__in=shas).values_list(
                "image__sha256", "candidate_category_id"
            )
        )
        new_canonical: list[Image] = []
        new_near: list[tuple[Image, object, IngestEntry, int]] = []
        decided: list[tuple[IngestEntry, Outcome, Category | None]] = []
        self._row_of = {}
        failed: list[tuple[IngestEntry, str]] = []
        for outcome in outcomes:
            row = rows.get(key_hash(outcome.entry.key))
            if row is None or row.status != Status.PENDING:
                continue  # already decided by an earlier run
            if outcome.storage_error:
                failed.append((row, outcome.storage_error))
                continue
            category = self._decide(row, outcome, images, in_project, new_canonical, new_near)
            decided.append((row, outcome, category))
        Image.objects.bulk_create(new_canonical)
        for image, canonical, row, distance in new_near:
            head = _head(canonical)
            image.canonical_id = head if isinstance(head, int) else head.id  # type: ignore[attr-defined]
            row.message = f"Near-duplicate of image {image.canonical_id} (pHash distance {distance})."
        Image.objects.bulk_create([near[0] for near in new_near])
        self._demote_earlier()
        sources = []
        for row, outcome, category in decided:
            if row.status == Status.REJECTED:
                continue
            image = images[outcome.prepared.sha256]  # type: ignore[union-attr]
            row.image_id, row.category = image.id, category
            key = (image.sha256, category.id if category else None)
            if key not in in_project:
                in_project.add(key)
                sources.append(self._source(outcome.entry, image, category))
        ImageSource.objects.bulk_create(sources)
        # One flat statement for the chunk's verdicts (Django's bulk_update builds a large CASE instead).
        bulk_update_values(IngestEntry, [row for row, _, _ in decided], VERDICT_FIELDS)
        for row, message in failed:  # still pending: a later run (or a retry) stores it again
            IngestEntry.objects.filter(pk=row.pk).update(message=message[:2000])
        self.recount(self.batch)

    def _demote_earlier(self) -> None:
        """Canonicals stored by an earlier chunk of this run that a better copy in this chunk replaced: they and
        their near-duplicates now point at the better copy (their items are made at the end of the run)."""
        for old, new in self._demoted:
            Image.objects.filter(Q(pk=old.id) | Q(canonical_id=old.id)).update(canonical_id=new.id)
            IngestEntry.objects.filter(batch=self.batch, image_id=old.id, status=Status.INGESTED).update(
                status=Status.NEAR_DUPLICATE,
                message=f"Near-duplicate of image {new.id}, a better copy (more pixels or bytes).",
            )
        self._demoted = []

    def _decide(
        self, row: IngestEntry, outcome: Outcome, images: dict, in_project: set, new_canonical: list, new_near: list
    ) -> Category | None:
        if outcome.rejected is not None:
            row.status, row.reason_code, row.message = Status.REJECTED, outcome.rejected.code, outcome.rejected.message
            return None
        prepared = outcome.prepared
        assert prepared is not None
        try:
            category = self._category(outcome.entry.category)
        except ServiceError as exc:
            row.status, row.reason_code = Status.REJECTED, exc.code
            row.message = f"Category {outcome.entry.category[:80]!r}: {exc.message}"
            return None
        if category is None and self.project.task_type == Project.TaskType.VERIFY:
            row.status, row.reason_code = Status.REJECTED, "missing_category"
            row.message = "A verify project needs a candidate category: use a sub-folder, a CSV column or --category."
            return None
        image = images.get(prepared.sha256)
        if image is not None and image.id is None:  # the same bytes earlier in this very chunk
            row.status, row.message = Status.DUPLICATE, "Same bytes as another input of this batch."
            return category
        if image is not None and any(sha == prepared.sha256 for sha, _ in in_project):
            row.status = Status.DUPLICATE
            row.message = f"Same bytes as image {image.id}, already in this project."
            return category
        if image is not None:  # a row of this project without provenance yet
            row.status, row.message = Status.INGESTED, prepared.normalised
            return category
        image = Image(
            project=self.project,
            sha256=prepared.sha256,
            file=original_name(prepared.sha256, prepared.ext),
            thumbnail=(
                original_name(prepared.sha256, prepared.ext)
                if prepared.thumbnail_is_original
                else thumbnail_name(prepared.sha256)
            ),
            width=prepared.width,
            height=prepared.height,
            format=prepared.format,
            mode=prepared.mode,
            size_bytes=len(prepared.data),
            phash=prepared.phash,
        )
        images[prepared.sha256] = image
        self._row_of[id(image)] = row
        near = near_dup_find(index=self.index, phash=prepared.phash, thumbnail=prepared.thumbnail)
        if near and not self._replaces(image, _head(near[0]), row, near[1], new_canonical, new_near):
            canonical, distance = near
            new_near.append((image, canonical, row, distance))
            row.status = Status.NEAR_DUPLICATE
        elif not near:
            new_canonical.append(image)
            self.index.add(prepared.phash, image)  # payload: the Image (its id once inserted)
            row.status, row.message = Status.INGESTED, prepared.normalised
        return category

    def _replaces(
        self, image: Image, canonical: object, row: IngestEntry, distance: int, new_canonical: list, new_near: list
    ) -> bool:
        """Make `image` its cluster's canonical when it is a better copy than the canonical stored earlier in
        this run (canonicals from earlier runs may have labels already: they stay). True when it did."""
        if not isinstance(canonical, Image) or _quality(image) <= _quality(canonical):
            return False
        new_canonical.append(image)
        self.index.add(image.phash, image)
        canonical._annotate_head = image  # type: ignore[attr-defined]  # later hits on it resolve to `image`
        row.status, row.message = Status.INGESTED, ""
        if canonical.id is None:  # stored by this chunk: it becomes a near-duplicate before anything is written
            new_canonical.remove(canonical)
            old_row = self._row_of[id(canonical)]
            old_row.status = Status.NEAR_DUPLICATE
            new_near.append((canonical, image, old_row, distance))
        else:
            self._demoted.append((canonical, image))
        return True

    def _source(self, entry: SourceEntry, image: Image, category: Category | None) -> ImageSource:
        return ImageSource(
            project=self.project,
            image=image,
            batch=self.batch,
            source_uri=entry.url or entry.key,
            query=entry.query,
            candidate_category=category,
            license=entry.license,
            attribution=entry.attribution,
        )

    @staticmethod
    def recount(batch: IngestBatch) -> None:
        counts = dict(batch.entries.values_list("status").annotate(n=Count("id")).order_by())
        batch.total = sum(counts.values())
        batch.ingested = counts.get(Status.INGESTED, 0)
        batch.duplicates = counts.get(Status.DUPLICATE, 0)
        batch.near_duplicates = counts.get(Status.NEAR_DUPLICATE, 0)
        batch.rejected = counts.get(Status.REJECTED, 0)
        batch.processed = batch.total - counts.get(Status.PENDING, 0)
        batch.save(update_fields=["total", "ingested", "duplicates", "near_duplicates", "rejected", "processed"])


def _head(canonical: object) -> object:
    """The current canonical of a cluster whose first canonical (an Image of this run) was replaced."""
    while isinstance(canonical, Image) and getattr(canonical, "_annotate_head", None) is not None:
        canonical = canonical._annotate_head  # type: ignore[attr-defined]
    return canonical


def _quality(image: Image) -> tuple[int, int]:
    """Which copy of a picture is the better one: more pixels, then more bytes (for one format and size,
    a higher quality setting)."""
    return (image.width * image.height, image.size_bytes)
