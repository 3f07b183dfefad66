"""`raw_votes`: every vote behind the version's items, as CSV, for researchers' own aggregation.

The votes are the version's own copy (`DatasetVersionVote`, written with the version): a later vote, a
deleted item, category or user never changes this export. Versions made before the copy existed read the
live votes cast up to their snapshot time. Annotators are per-project pseudonyms; the CSV is
injection-neutralised like the `csv` format.
"""

from __future__ import annotations

import csv as _csv
import io
from datetime import datetime
from typing import IO, Any

from labeling.models import Annotation, Category, DatasetVersion, DatasetVersionItem, DatasetVersionVote
from labeling.services.exports.base import Progress, dumps, neutralise_cell

EXTENSION = ".csv"
CONTENT_TYPE = "text/csv"
COLUMNS = ("vote_id", "item_id", "image_id", "category", "annotator", "label", "answer", "time_spent_ms",
           "created_at")  # fmt: skip
_ID_CHUNK = 2000


def version_item_ids(version: DatasetVersion) -> list[int]:
    ids: set[int] = set()
    for item_ids in (
        DatasetVersionItem.objects.filter(version=version).values_list("item_ids", flat=True).iterator(chunk_size=5000)
    ):
        ids.update(item_ids)
    return sorted(ids)


def _write_snapshot(version: DatasetVersion, out: IO[bytes], progress: Progress) -> int:
    text = io.TextIOWrapper(out, encoding="utf-8", newline="", write_through=True)
    writer = _csv.writer(text)
    writer.writerow(COLUMNS)
    total = max(version.filters["votes_snapshot"], 1)
    votes = DatasetVersionVote.objects.filter(version=version).order_by("item_id", "vote_id").values_list(
        "vote_id", "item_id", "image_id", "category_name", "annotator", "label", "answer", "time_spent_ms",
        "created_at")  # fmt: skip
    count = 0
    for vid, item_id, image_id, cat_name, pseudo, label, answer, ms, created in votes.iterator(chunk_size=5000):
        writer.writerow([neutralise_cell(v) for v in (
            vid, item_id, image_id, cat_name, pseudo, "" if label is None else label, dumps(answer or {}), ms,
            created.isoformat())])  # fmt: skip
        count += 1
        if count % 5000 == 0:
            progress(count / total)
    text.flush()
    text.detach()
    return count


def write(version: DatasetVersion, out: IO[bytes], progress: Progress, options: dict[str, Any]) -> int:
    from labeling.services.dataset_integrity import dataset_version_verify
    from labeling.services.dataset_votes import annotator_pseudonym

    dataset_version_verify(version=version)
    if version.filters.get("votes_snapshot") is not None:
        return _write_snapshot(version, out, progress)

    until = datetime.fromisoformat(version.filters["snapshot_at"]) if version.filters.get("snapshot_at") else (
        version.created_at)  # fmt: skip
    names = {c["category_id"]: c["name"] for c in version.classes}
    # A classify vote's label is a category id: the category column names it (the project's, in or out of the
    # version), so the file reads without our internal ids.
    voted = dict(Category.objects.filter(project_id=version.project_id).values_list("id", "name"))
    classify = version.project.task_type == "classify"
    text = io.TextIOWrapper(out, encoding="utf-8", newline="", write_through=True)
    writer = _csv.writer(text)
    writer.writerow(COLUMNS)
    ids = version_item_ids(version)
    count = 0
    for start in range(0, len(ids), _ID_CHUNK):
        chunk = ids[start : start + _ID_CHUNK]
        votes = (
            Annotation.objects.filter(item_id__in=chunk, created_at__lte=until)
            .order_by("item_id", "id")
            .values_list(
                "id",
                "item_id",
                "item__image_id",
                "item__category_id",
                "item__category__name",
                "user_id",
                "label",
                "answer",
                "time_spent_ms",
                "created_at",
            )
        )
        for vid, item_id, image_id, cat_id, cat_name, user_id, label, answer, ms, created in votes.iterator():
            pseudo = annotator_pseudonym(project_id=version.project_id, user_id=user_id)
            writer.writerow([neutralise_cell(v) for v in (
                vid, item_id, image_id,
                voted.get(label, "") if classify and cat_id is None else names.get(cat_id, cat_name or ""),
                pseudo, "" if label is None else label,
                dumps(answer or {}), ms, created.isoformat())])  # fmt: skip
            count += 1
        progress(min(start + _ID_CHUNK, len(ids)) / len(ids))
    text.flush()
    text.detach()
    return count
