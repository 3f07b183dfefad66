"""The database side of a batch chunk: images, provenance, entry verdicts and counters, in one transaction.

A chunk costs a fixed handful of queries whatever its size: one read each for its entries, known images and
provenance, two bulk inserts of images (canonicals first, then near-duplicates pointing at them), one bulk
insert of provenance, one UPDATE ... FROM (VALUES ...) for the verdicts, and the counter refresh.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction
from django.db.models import Count

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


class ChunkWriter:
    """Holds the per-run state: the near-duplicate index and the category cache of the project."""

    def __init__(self, batch: IngestBatch) -> None:
        self.batch = batch
        self.project: Project = batch.project
        self.index = near_dup_index_build(project=self.project)
        self._categories: dict[str, Category] = {}

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
        images = {img.sha256: img for img in Image.objects.filter(sha256__in=shas)}
        in_project = set(
            ImageSource.objects.filter(project=self.project, image__sha256__in=shas).values_list(
                "image__sha256", "candidate_category_id"
            )
        )
        new_canonical: list[Image] = []
        new_near: list[tuple[Image, object, IngestEntry, int]] = []
        decided: list[tuple[IngestEntry, Outcome, Category | None]] = []
        for outcome in outcomes:
            row = rows.get(key_hash(outcome.entry.key))
            if row is None or row.status != Status.PENDING:
                continue  # already decided by an earlier run
            category = self._decide(row, outcome, images, in_project, new_canonical, new_near)
            decided.append((row, outcome, category))
        Image.objects.bulk_create(new_canonical)
        for image, canonical, row, distance in new_near:
            image.canonical_id = canonical if isinstance(canonical, int) else canonical.id  # type: ignore[attr-defined]
            row.message = f"Near-duplicate of image {image.canonical_id} (pHash distance {distance})."
        Image.objects.bulk_create([near[0] for near in new_near])
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
        self.recount(self.batch)

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
        if image is not None:
            row.status = Status.INGESTED
            row.message = f"Stored once already (image {image.id}); added to this project."
            if image.canonical_id is None and image.phash is not None:  # later inputs' near-duplicates find it
                self.index.add(image.phash, image.id)
            return category
        image = Image(
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
        near = near_dup_find(index=self.index, phash=prepared.phash, thumbnail=prepared.thumbnail)
        if near:
            canonical, distance = near
            new_near.append((image, canonical, row, distance))
            row.status = Status.NEAR_DUPLICATE
        else:
            new_canonical.append(image)
            self.index.add(prepared.phash, image)  # payload: the Image (its id once inserted)
            row.status, row.message = Status.INGESTED, prepared.normalised
        return category

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
