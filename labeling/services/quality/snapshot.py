"""Step 1 of a re-aggregation (reaggregate.py): the snapshot -- one consistent read of a project's items, votes,
annotator statuses and counters, skips and model votes, streamed into arrays (a server-side cursor on PostgreSQL,
CHUNK rows at a time) inside one REPEATABLE READ transaction, with each item's version and current decision so
that the write step can tell what changed since."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from django.db import connection, transaction

from labeling.models import Annotation, AnnotatorScore, Item, Project, Skip
from labeling.services.quality.engine import StoredVote
from labeling.services.quality.opinions import project_votes

NO_LABEL = -(2**31)
CHUNK = 20_000  # rows per fetch of the streamed reads
ITEM_COLUMNS = ("id", "category_id", "is_gold", "gold_label", "status", "votes_count", "label", "version",
                "review_reason", "confidence", "needed_votes", "priority", "posterior")  # fmt: skip


@dataclass
class Snapshot:
    project: Project
    items: dict[str, np.ndarray]
    votes: dict[str, np.ndarray]
    statuses: dict[int, tuple[str, bool]]
    skips: dict[int, int]
    category_ids: list[int]
    model_votes: dict[int, StoredVote] = field(default_factory=dict)  # item id -> its latest model vote
    counters: dict[int, tuple[int, int, int]] = field(default_factory=dict)  # user -> (volume, gold seen, correct)
    state: dict[str, list] = field(default_factory=dict)  # per item (like items): its current decision fields


def _stream(queryset, n_cols: int) -> list[list]:
    """The queryset's values_list rows as columns, fetched CHUNK rows at a time (a server-side cursor on
    PostgreSQL), so that a 1M-row read never holds a million tuples at once."""
    cols: list[list] = [[] for _ in range(n_cols)]
    chunk: list[tuple] = []

    def flush() -> None:
        for target, values in zip(cols, zip(*chunk, strict=True), strict=True):
            target.extend(values)
        chunk.clear()

    for row in queryset.iterator(chunk_size=CHUNK):
        chunk.append(row)
        if len(chunk) >= CHUNK:
            flush()
    if chunk:
        flush()
    return cols


def _ints(values: list, none: int = NO_LABEL) -> np.ndarray:
    return np.fromiter((none if v is None else v for v in values), dtype=np.int64, count=len(values))


def snapshot_read(project_id: int) -> Snapshot | None:
    """The project's snapshot (None when the project is gone)."""
    outermost = not connection.in_atomic_block  # nested (a caller's transaction): its isolation level holds
    with transaction.atomic():
        if connection.vendor == "postgresql" and outermost:
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        project = Project.objects.filter(pk=project_id).first()
        if project is None:
            return None
        cols = _stream(Item.objects.filter(project_id=project_id).order_by("id").values_list(*ITEM_COLUMNS),
                       len(ITEM_COLUMNS))  # fmt: skip
        c = dict(zip(ITEM_COLUMNS, cols, strict=True))
        items = {
            "id": _ints(c["id"]),
            "category": _ints(c["category_id"], -1),
            "gold": np.asarray(c["is_gold"], dtype=bool),
            "gold_label": _ints(c["gold_label"]),
            "status": np.asarray(c["status"], dtype=object),
            "votes_count": _ints(c["votes_count"]),
            "label": _ints(c["label"]),
            "version": _ints(c["version"]),
        }
        state = {name: c[name] for name in ("review_reason", "confidence", "needed_votes", "priority", "posterior")}
        state["label"] = c["label"]
        vcols = _stream(Annotation.objects.filter(item__project_id=project_id).order_by("id")
                        .values_list("item_id", "user_id", "label", "time_spent_ms"), 4)  # fmt: skip
        # Box votes carry no label: a sentinel no class maps to (classify's "none" is -1, a real label).
        votes = {
            "item": _ints(vcols[0]),
            "user": _ints(vcols[1]),
            "label": _ints(vcols[2]),
            "ms": _ints(vcols[3], 0),
        }
        statuses, counters = {}, {}
        for uid, status, locked, volume, seen, correct in AnnotatorScore.objects.filter(
            project_id=project_id
        ).values_list("user_id", "status", "status_locked", "volume", "gold_seen", "gold_correct"):
            statuses[uid] = (status, locked)
            counters[uid] = (volume, seen, correct)
        skips: dict[int, int] = {}
        for uid in Skip.objects.filter(item__project_id=project_id).values_list("user_id", flat=True).iterator():
            skips[uid] = skips.get(uid, 0) + 1
        category_ids = list(project.categories.order_by("id").values_list("id", flat=True))
        model_votes = project_votes(project_id=project_id)
    return Snapshot(project, items, votes, statuses, skips, category_ids, model_votes, counters, state)
