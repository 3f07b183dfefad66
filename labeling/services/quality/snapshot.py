"""Step 1 of a re-aggregation (reaggregate.py): the snapshot -- one consistent read of a project's items, votes,
annotator statuses and counters, skips and model votes, into arrays inside one REPEATABLE READ transaction, with
each item's version and current decision so that the write step can tell what changed since. On PostgreSQL the
items and the votes come by one binary COPY each (annotate/db_copy.py: 1M items and 5M votes without a Python
object per value); elsewhere, and for posteriors over many classes, by a streamed values_list (CHUNK rows at a
time). tests/labeling/quality/test_quality_reaggregate_columns.py holds the two reads to the same arrays."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from django.db import connection, transaction
from django.db.models import Count

from annotate.db_copy import copy_columns
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
    # per item (like items): its current decision fields (review_reason, confidence, needed_votes, priority as
    # arrays; NaN for no confidence) and its stored posterior (Posteriors)
    state: dict = field(default_factory=dict)


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


@dataclass
class Posteriors:
    """The items' stored posteriors, over the label values a decision may use (`keys`, as the JSON spells them):
    `values[i, j]` item i's value for keys[j] (NaN where missing or not a number), `n_keys[i]` how many of the keys
    its dict has (-1: none stored, -2: not a dict, -3: a dict with some other key). None of these when there are
    more than POSTERIOR_COLUMNS keys (a classify project with many categories): then `dicts` holds the stored
    values themselves."""

    keys: list[str]
    values: np.ndarray | None = None
    n_keys: np.ndarray | None = None
    dicts: list | None = None


POSTERIOR_COLUMNS = 16  # up to this many label values the posteriors are read into columns


def posterior_keys(project: Project, category_ids: list[int]) -> list[str]:
    """Every label value a posterior of the project may carry (engine.project_classes, with "none" included)."""
    if project.task_type == Project.TaskType.VERIFY:
        return ["0", "1"]
    return [str(c) for c in category_ids] + ["-1"]


def posteriors_from_dicts(stored: list, keys: list[str]) -> Posteriors:
    """The plain path's Posteriors (what _items_copy reads on PostgreSQL, from the JSON values themselves)."""
    if len(keys) > POSTERIOR_COLUMNS:
        return Posteriors(keys, dicts=stored)
    known = set(keys)
    values = np.full((len(stored), len(keys)), np.nan)
    n_keys = np.full(len(stored), -1, dtype=np.int64)
    for i, d in enumerate(stored):
        if d is None:
            continue
        if not isinstance(d, dict):
            n_keys[i] = -2
            continue
        # as _items_copy counts: the keys read that it has, or -3 when it has any other key
        n_keys[i] = -3 if any(key not in known for key in d) else sum(key in d for key in keys)
        for j, key in enumerate(keys):
            v = d.get(key)
            if isinstance(v, int | float) and not isinstance(v, bool):
                values[i, j] = v
    return Posteriors(keys, values, n_keys)


def _items_plain(project_id: int, keys: list[str]) -> tuple[dict[str, np.ndarray], dict]:
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
    state = {
        "review_reason": np.asarray(c["review_reason"], dtype=object),
        "confidence": np.array([np.nan if v is None else v for v in c["confidence"]], dtype=np.float64),
        "needed_votes": _ints(c["needed_votes"]),
        "priority": np.asarray(c["priority"], dtype=np.float64),
        "posterior": posteriors_from_dicts(c["posterior"], keys),
    }
    return items, state


STATUSES = list(Item.Status.values)
REASONS = ["", *Item.ReviewReason.values]


def _items_copy(project_id: int, keys: list[str]) -> tuple[dict[str, np.ndarray], dict] | None:
    """_items_plain by one binary COPY (PostgreSQL; None elsewhere, or when a status or review reason is one the
    choices do not list, which the plain read keeps as it is). Statuses and reasons travel as their index in the
    choices, NULLs as NO_LABEL / -1 / NaN, the posterior as one float8 per key plus its number of keys."""
    if connection.vendor != "postgresql" or len(keys) > POSTERIOR_COLUMNS:
        return None
    per_key = ", ".join(
        "CASE WHEN jsonb_typeof(posterior -> %s) = 'number' THEN (posterior ->> %s)::float8 ELSE 'NaN'::float8 END"
        for _ in keys
    )
    select = (
        "SELECT id::int8, COALESCE(category_id, -1)::int8, is_gold::int::int8, COALESCE(gold_label, %s)::int8, "
        "(COALESCE(array_position(%s::text[], status::text), 0) - 1)::int8, votes_count::int8, "
        "COALESCE(label, %s)::int8, version::int8, "
        "(COALESCE(array_position(%s::text[], review_reason::text), 0) - 1)::int8, "
        "COALESCE(confidence, 'NaN')::float8, needed_votes::int8, priority::float8, "
        "(CASE WHEN posterior IS NULL OR jsonb_typeof(posterior) = 'null' THEN -1 "
        "WHEN jsonb_typeof(posterior) <> 'object' THEN -2 "
        "WHEN posterior - %s::text[] <> '{}'::jsonb THEN -3 ELSE 0"
    )
    select += "".join(" + (posterior ? %s)::int" for _ in keys) + " END)::int8, "
    # No ORDER BY: sorting a million wide rows spills to disk on a default work_mem; numpy sorts them after.
    sql = f"{select}{per_key} FROM {Item._meta.db_table} WHERE project_id = %s"
    params: list = [NO_LABEL, STATUSES, NO_LABEL, REASONS, keys, *keys]
    for key in keys:
        params += [key, key]
    names = [("id", "i8"), ("category", "i8"), ("gold", "i8"), ("gold_label", "i8"), ("status", "i8"),
             ("votes_count", "i8"), ("label", "i8"), ("version", "i8"), ("review_reason", "i8"),
             ("confidence", "f8"), ("needed_votes", "i8"), ("priority", "f8"), ("n_keys", "i8")]  # fmt: skip
    names += [(f"posterior_{j}", "f8") for j in range(len(keys))]
    c = copy_columns(sql, [*params, project_id], names)
    if c is None or (c["status"] < 0).any() or (c["review_reason"] < 0).any():
        return None
    c = _by(c, "id")
    items = {name: c[name] for name in ("id", "category", "gold_label", "votes_count", "label", "version")}
    items["gold"] = c["gold"].astype(bool)
    items["status"] = np.array(STATUSES, dtype=object)[c["status"]]
    values = np.stack([c[f"posterior_{j}"] for j in range(len(keys))], axis=1) if keys else np.zeros((c["id"].size, 0))
    state = {
        "review_reason": np.array(REASONS, dtype=object)[c["review_reason"]],
        "confidence": c["confidence"],
        "needed_votes": c["needed_votes"],
        "priority": c["priority"],
        "posterior": Posteriors(keys, values, c["n_keys"]),
    }
    return items, state


def _by(columns: dict[str, np.ndarray], key: str) -> dict[str, np.ndarray]:
    """The columns in the order of `key` (rows read without ORDER BY)."""
    ids = columns[key]
    if ids.size < 2 or bool((ids[1:] > ids[:-1]).all()):
        return columns
    order = np.argsort(ids, kind="stable")
    return {name: values[order] for name, values in columns.items()}


VOTE_COLUMNS = [("item", "i8"), ("user", "i8"), ("label", "i8"), ("ms", "i8")]


def _votes(project_id: int) -> dict[str, np.ndarray]:
    """The project's votes in id order: one binary COPY on PostgreSQL, a streamed values_list elsewhere."""
    # Box votes carry no label: a sentinel no class maps to (classify's "none" is -1, a real label).
    votes = copy_columns(
        f"SELECT a.id::int8, a.item_id::int8, a.user_id::int8, COALESCE(a.label, %s)::int8, "  # noqa: S608 - model
        f"COALESCE(a.time_spent_ms, 0)::int8 FROM {Annotation._meta.db_table} a "
        f"JOIN {Item._meta.db_table} i ON i.id = a.item_id WHERE i.project_id = %s",
        [NO_LABEL, project_id],
        [("id", "i8"), *VOTE_COLUMNS],
    )
    if votes is not None:
        votes = _by(votes, "id")  # in id order, as the plain read: sorted here, not by the server (see items)
        del votes["id"]
        return votes
    vcols = _stream(Annotation.objects.filter(item__project_id=project_id).order_by("id")
                    .values_list("item_id", "user_id", "label", "time_spent_ms"), 4)  # fmt: skip
    return {"item": _ints(vcols[0]), "user": _ints(vcols[1]), "label": _ints(vcols[2]), "ms": _ints(vcols[3], 0)}


def snapshot_read(project_id: int) -> Snapshot | None:
    """The project's snapshot (None when the project is gone)."""
    outermost = not connection.in_atomic_block  # nested (a caller's transaction): its isolation level holds
    with transaction.atomic():
        if connection.vendor == "postgresql" and outermost:
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                # the votes' join hashes a million item ids: in memory, not in 16 batches on disk (4MB default)
                cursor.execute("SET LOCAL work_mem = '256MB'")
        project = Project.objects.filter(pk=project_id).first()
        if project is None:
            return None
        category_ids = list(project.categories.order_by("id").values_list("id", flat=True))
        keys = posterior_keys(project, category_ids)
        items, state = _items_copy(project_id, keys) or _items_plain(project_id, keys)
        votes = _votes(project_id)
        statuses, counters = {}, {}
        for uid, status, locked, volume, seen, correct in AnnotatorScore.objects.filter(
            project_id=project_id
        ).values_list("user_id", "status", "status_locked", "volume", "gold_seen", "gold_correct"):
            statuses[uid] = (status, locked)
            counters[uid] = (volume, seen, correct)
        skips = dict(Skip.objects.filter(item__project_id=project_id).values("user_id")
                     .annotate(n=Count("id")).values_list("user_id", "n"))  # fmt: skip
        model_votes = project_votes(project_id=project_id)
    return Snapshot(project, items, votes, statuses, skips, category_ids, model_votes, counters, state)
