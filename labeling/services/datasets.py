"""Dataset versions: immutable snapshots of a project's consensus labels, with the evidence behind each.

See datasets.md beside this file for the labelling rules per task type and what "immutable" covers.
"""

from __future__ import annotations

import gc
import json
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Max, Q, QuerySet
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from annotate.db_copy import insert_rows
from annotate.exceptions import ServiceError
from labeling.algorithms.splits import HASH_SPLIT_RULE, SPLIT_NAMES, hash_split, validate_fractions
from labeling.models import (
    Annotation,
    Category,
    DatasetVersion,
    DatasetVersionItem,
    Image,
    ImageSource,
    Item,
    Project,
    WebhookEvent,
)
from labeling.services.dataset_card import dataset_card_render
from labeling.services.dataset_classes import class_index_extend
from labeling.services.dataset_integrity import content_hash
from labeling.services.dataset_votes import annotator_pseudonym, version_votes_copy
from labeling.services.ingestion.dedupe import near_dup_recluster
from labeling.services.webhooks import webhooks_emit

CONSENSUS_STATUSES = (Item.Status.DONE, Item.Status.ACCEPTED)


@dataclass(slots=True)
class _Row:
    image_id: int
    sha256: str
    cluster_id: int
    category_id: int | None
    posterior: float | None
    votes: dict[str, Any] = field(default_factory=dict)
    soft_label: dict[str, float] = field(default_factory=dict)
    annotators: set[str] = field(default_factory=set)
    boxes: list[list[float]] = field(default_factory=list)
    item_ids: list[int] = field(default_factory=list)
    is_gold: bool = False
    votes_total: int = 0


class VersionRow(NamedTuple):
    """A DatasetVersionItem row as it is written (no model instance: a million of them cost a minute), with
    the model's attribute names, so the content hash and the statistics read it like a stored row."""

    image_id: int
    image_sha256: str
    cluster_id: int
    category_id: int | None
    class_index: int
    label_name: str
    split: str
    posterior: float | None
    votes: dict[str, Any]
    n_votes: int
    soft_label: dict[str, float]
    annotators: list[str]
    boxes: list[list[float]]
    item_ids: list[int]
    is_gold: bool
    source_uri: str
    license: str
    attribution: str


def _label_posterior(task_type: str, post: Any, conf: float | None) -> float | None:
    if task_type == Project.TaskType.VERIFY and isinstance(post, list) and len(post) >= 2:
        return float(post[1])
    if conf is not None:
        return float(conf)
    if isinstance(post, list) and post:
        return float(max(post))
    return None


def _raw_rows(qs: QuerySet) -> Iterator[tuple[Any, ...]]:
    """The rows of a values_list() queryset as the driver returns them, streamed (a server-side cursor on
    PostgreSQL, like .iterator()), without Django's per-value converters: ~3 µs a row at a million rows. JSON
    columns arrive as text and booleans as the backend stores them; the caller converts what it reads."""
    sql, params = qs.query.sql_with_params()
    with connection.chunked_cursor() as cursor:
        cursor.execute(sql, params)
        while batch := cursor.fetchmany(10_000):
            yield from batch


def _json(value: Any) -> Any:
    """What JSONField.from_db_value makes of a raw column value."""
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except json.JSONDecodeError:
        return value


@dataclass
class _Votes:
    """The votes on the snapshot's items, cast up to the snapshot time: per item its labels and voters, in
    parallel lists, and each voter's pseudonym."""

    by_item: dict[int, tuple[list[int | None], list[int]]]
    pseudonyms: dict[int, str]

    def count(self, item_ids: Iterable[int]) -> int:
        return sum(len(self.by_item[i][0]) for i in item_ids if i in self.by_item)


def _votes_by_item(project: Project, items: QuerySet, until: Any) -> _Votes:
    """One pass over the votes of `items` (a few per item: per-vote work is two list appends)."""
    rows = (
        Annotation.objects.filter(item__in=items.order_by().values("id"), created_at__lte=until)
        .order_by()  # any order: a sort of millions of votes for nothing
        .values_list("item_id", "user_id", "label")
    )
    by_item: dict[int, tuple[list[int | None], list[int]]] = {}
    for item_id, user_id, label in _raw_rows(rows):
        entry = by_item.get(item_id)
        if entry is None:
            by_item[item_id] = ([label], [user_id])
        else:
            entry[0].append(label)
            entry[1].append(user_id)
    users = {u for _labels, voters in by_item.values() for u in voters}
    # one HMAC per annotator, not per vote (5M votes: ~50 s of HMACs)
    return _Votes(by_item, {u: annotator_pseudonym(project_id=project.id, user_id=u) for u in users})


def _normalise_boxes(answer: Any, default_category: int | None, valid: set[int]) -> list[list[float]]:
    """[[x, y, w, h, category_id], ...] from a consensus answer; malformed boxes are dropped."""
    out = []
    boxes = answer.get("boxes", []) if isinstance(answer, dict) else []
    for box in boxes if isinstance(boxes, list) else []:
        if not isinstance(box, (list, tuple)) or len(box) < 4:
            continue
        try:
            x, y, w, h = (float(v) for v in box[:4])
        except (TypeError, ValueError):
            continue
        cat = box[4] if len(box) > 4 and box[4] in valid else default_category
        if w > 0 and h > 0 and cat is not None:
            out.append([x, y, w, h, cat])
    return out


def category_rollup(parents: dict[int, int | None], chosen: set[int]) -> dict[int, int]:
    """Which chosen category each category's labels count as: itself when chosen, else its nearest chosen
    ancestor (a beagle is a dog: with "dog" chosen and "beagle" not, a yes for beagle is a dog image).
    Categories with no chosen ancestor are absent. README, "Taxonomy"."""
    out: dict[int, int] = {}
    for category in parents:
        node, seen = category, set()
        while node is not None and node not in chosen and node not in seen:  # `seen`: a cycle never loops
            seen.add(node)
            node = parents.get(node)
        if node is not None and node in chosen:
            out[category] = node
    return out


def is_ancestor(parents: dict[int, int | None], ancestor: int, category: int) -> bool:
    node, seen = parents.get(category), set()
    while node is not None and node not in seen:
        if node == ancestor:
            return True
        seen.add(node)
        node = parents.get(node)
    return False


def _collect_rows(
    project: Project,
    *,
    names: dict[int, str],
    allowed: set[int],
    min_posterior: float | None,
    accepted_only: bool,
    include_gold: bool,
    until: Any,
    counts_as: dict[int, int],
    parents: dict[int, int | None],
) -> tuple[dict[int, _Row], _Votes]:
    statuses = (Item.Status.ACCEPTED,) if accepted_only else CONSENSUS_STATUSES
    # Items a curator excluded (labeling.services.curation) never enter a version.
    items = Item.objects.filter(project=project, excluded=False).order_by("image_id", "id")
    if include_gold:  # gold is a known answer whatever its status (imported gold stays open: issue 22, 12)
        items = items.filter(Q(status__in=statuses) | Q(is_gold=True)).exclude(status=Item.Status.REJECTED)
    else:
        items = items.filter(status__in=statuses, is_gold=False)
    fields = ("id", "image_id", "category_id", "label", "posterior", "confidence", "answer", "is_gold",
              "gold_label", "image__sha256", "image__canonical_id")  # fmt: skip
    votes = _votes_by_item(project, items, until)
    names_of, no_votes = votes.pseudonyms, ([], [])
    rows: dict[int, _Row] = {}
    task = project.task_type
    detect = project.detects
    only_category = next(iter(allowed)) if len(allowed) == 1 else None
    for (
        item_id,
        image_id,
        category_id,
        label,
        posterior,
        confidence,
        answer,
        is_gold,
        gold_label,
        sha,
        canonical,
    ) in _raw_rows(items.values_list(*fields)):
        is_gold = bool(is_gold)  # SQLite hands back 0/1
        posterior = _json(posterior)
        if label is None and is_gold:
            label = gold_label
        post = _label_posterior(task, posterior, confidence)
        labels, voters = votes.by_item.get(item_id, no_votes)
        if task == Project.TaskType.VERIFY:
            cat = counts_as.get(category_id)
            if cat is None or label is None:
                continue
            row = rows.get(image_id)
            if row is None:
                row = rows[image_id] = _Row(image_id, sha, canonical or image_id, None, None)
            name = names[category_id]  # the votes stay under the question asked (beagle), the class rolls up
            row.soft_label[name] = round(post if post is not None else float(label == 1), 6)
            row.votes[name] = {"yes": labels.count(1), "no": labels.count(0)}
            if label == 1 and (min_posterior is None or (post is not None and post >= min_posterior)):
                if row.category_id is None or cat == row.category_id:
                    better = row.category_id is None or (post or 0.0) > (row.posterior or 0.0)
                elif is_ancestor(parents, row.category_id, cat) or is_ancestor(parents, cat, row.category_id):
                    better = is_ancestor(parents, row.category_id, cat)  # yes for dog and beagle: beagle
                else:
                    better = (post or 0.0) > (row.posterior or 0.0)
                if better:
                    row.category_id, row.posterior, row.is_gold = cat, post, is_gold
        else:
            vc = Counter(labels)
            boxes: list[list[float]] = []
            if task == Project.TaskType.CLASSIFY:
                cat = counts_as.get(label) if label is not None else None
            elif detect:  # each box names its class; the image's is the commonest (none: a background image)
                boxes = _normalise_boxes(_json(answer), None, allowed)
                cat = _dominant_category(boxes)
            else:
                cat = counts_as.get(category_id, only_category) if category_id else only_category
            if (cat is None and not detect) or (min_posterior is not None and (post is None or post < min_posterior)):
                continue
            row = rows[image_id] = _Row(image_id, sha, canonical or image_id, cat, post, is_gold=is_gold)
            row.votes = {(names.get(k, "none") if task == Project.TaskType.CLASSIFY else "annotations"): v
                         for k, v in sorted(vc.items(), key=lambda kv: (kv[0] is None, kv[0] or 0))}  # fmt: skip
            if task == Project.TaskType.CLASSIFY:
                row.soft_label = _soft_from_posterior(posterior, names, vc)
            else:
                row.boxes = boxes if detect else _normalise_boxes(_json(answer), cat, allowed)
        row.item_ids.append(item_id)
        row.annotators.update(map(names_of.__getitem__, voters))
        row.votes_total += len(labels)
    return {k: r for k, r in rows.items() if r.category_id is not None or detect}, votes


def _dominant_category(boxes: list[list[float]]) -> int | None:
    """The category most boxes carry (ties: the lowest id); None for an image without boxes."""
    counts = Counter(int(b[4]) for b in boxes)
    return min(counts, key=lambda c: (-counts[c], c)) if counts else None


def _soft_from_posterior(posterior: Any, names: dict[int, str], vc: Counter) -> dict[str, float]:
    ordered = sorted(names)
    if isinstance(posterior, list) and len(posterior) == len(ordered):
        return {names[c]: round(float(p), 6) for c, p in zip(ordered, posterior, strict=True)}
    total = sum(v for k, v in vc.items() if k in names)
    return {names[k]: round(v / total, 6) for k, v in vc.items() if k in names} if total else {}


def _apply_near_duplicates(project: Project, rows: dict[int, _Row], *, exclude: bool) -> dict[int, _Row]:
    """Exclude: one image per cluster (the canonical one, else the lowest id). Include: also the cluster's
    near-duplicate images ingested into this project, with the cluster's label."""
    by_cluster: dict[int, _Row] = {}
    for image_id in sorted(rows):
        row = rows[image_id]
        keep = by_cluster.get(row.cluster_id)
        if keep is None or (row.image_id == row.cluster_id and keep.image_id != keep.cluster_id):
            by_cluster[row.cluster_id] = row
    if exclude:
        return {r.image_id: r for r in by_cluster.values()}
    extra = (
        ImageSource.objects.filter(project=project, image__canonical_id__in=list(by_cluster))
        .values_list("image_id", "image__sha256", "image__canonical_id")
        .distinct()
    )
    out = dict(rows)
    for image_id, sha, cluster in extra.iterator(chunk_size=5000):
        if image_id not in out:
            src = by_cluster[cluster]
            out[image_id] = _Row(image_id, sha, cluster, src.category_id, src.posterior, dict(src.votes),
                                 dict(src.soft_label), set(src.annotators), list(src.boxes), [],
                                 src.is_gold, src.votes_total)  # fmt: skip
    return out


def _sources(project: Project, image_ids: Iterable[int]) -> dict[int, tuple[str, str, str]]:
    """Each image's first source in the project (by id): its URI, license and attribution."""
    wanted = set(image_ids)
    out: dict[int, tuple[str, str, str]] = {}
    qs = ImageSource.objects.filter(project=project).order_by("id")
    for image_id, uri, lic, attr in _raw_rows(qs.values_list("image_id", "source_uri", "license", "attribution")):
        if image_id in wanted and image_id not in out:
            out[image_id] = (uri, lic, attr)
    return out


def _stats(classes: list[dict[str, Any]], rows: Sequence[VersionRow], votes_total: int) -> dict[str, Any]:
    per_class = {c["name"]: {s: 0 for s in (*SPLIT_NAMES, "total")} for c in classes}
    for r in rows:
        if r.label_name:  # a detection version's background images (no box) have no class
            per_class[r.label_name][r.split] += 1
            per_class[r.label_name]["total"] += 1
    posts = [r.posterior for r in rows if r.posterior is not None]
    mean_post = float(np.mean(posts)) if posts else None
    annotators = set().union(*(r.annotators for r in rows)) if rows else set()
    return {
        "images": len(rows),
        "classes": sum(1 for c in classes if c.get("in_version", True)),
        "per_class": per_class,
        "splits": {s: sum(1 for r in rows if r.split == s) for s in SPLIT_NAMES},
        "mean_posterior": mean_post,
        "labels_per_item": (votes_total / len(rows)) if rows else 0.0,
        "estimated_label_noise": (1.0 - mean_post) if mean_post is not None else None,
        "annotators": len(annotators),
        "gold_images": sum(1 for r in rows if r.is_gold),
        "near_duplicate_clusters_with_several_images": sum(
            1 for n in Counter(r.cluster_id for r in rows).values() if n > 1
        ),
        "boxes": sum(len(r.boxes) for r in rows),
        "licenses": dict(Counter(r.license or "unknown" for r in rows).most_common()),
    }


@dataclass
class _Keyed:
    row: _Row
    split_key: str


def _with_split_keys(rows: list[_Row]) -> list[_Keyed]:
    """Each row with its cluster's split key: the SHA-256 of the cluster's canonical image."""
    cluster_sha = dict(
        Image.objects.filter(pk__in={r.cluster_id for r in rows if r.cluster_id != r.image_id}).values_list(
            "id", "sha256"
        )
    )
    return [_Keyed(r, r.sha256 if r.cluster_id == r.image_id else cluster_sha.get(r.cluster_id, r.sha256))
            for r in rows]  # fmt: skip


@contextmanager
def _gc_paused() -> Iterator[None]:
    """No cyclic garbage collection while a version is built: it allocates a few containers per row and vote
    (dicts, lists, sets) that all live to the end, and each full collection walks every one of them again:
    40 % of the process's CPU at 100k items. The few cycles made meanwhile are collected after."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def dataset_version_create(
    *,
    project: Project,
    created_by: Any = None,
    categories: Iterable[int] | None = None,
    min_posterior: float | None = None,
    accepted_only: bool = False,
    include_gold: bool = True,
    exclude_near_duplicates: bool = True,
    split: tuple[float, float, float] | list[float] = (0.8, 0.1, 0.1),
    seed: int = 0,
    name: str = "",
    language: str | None = None,
) -> DatasetVersion:
    """Snapshot the project's consensus into a new immutable version (rows copied, hash, stats, card). The card is
    written in `language` (the creating researcher's: the page and the API pass their request's), else in the
    site's default language, never in whatever language the calling thread happens to have active."""
    try:
        fractions = validate_fractions(split)
    except ValueError as exc:
        raise ServiceError(f"Invalid split: {exc}.", code="invalid_split") from exc
    if min_posterior is not None and not (0.0 <= float(min_posterior) <= 1.0):
        raise ServiceError(_("The minimum posterior must be between 0 and 1."), code="invalid_min_posterior")
    if not isinstance(seed, int) or not (-(2**31) <= seed < 2**31):
        raise ServiceError("seed must be a 32-bit integer.", code="invalid_seed")
    category_rows = Category.objects.filter(project=project).values_list("id", "name", "wnid", "parent_id")
    all_names, wnids, parents = {}, {}, {}
    for cid, cname, wnid, parent_id in category_rows:
        all_names[cid], wnids[cid], parents[cid] = cname, wnid, parent_id
    wanted = sorted(set(categories)) if categories else sorted(all_names)
    unknown = [c for c in wanted if c not in all_names]
    if unknown:
        raise ServiceError(
            _("Categories %(ids)s are not in this project.") % {"ids": unknown}, code="invalid_categories"
        )

    with _gc_paused(), transaction.atomic():
        locked = Project.objects.select_for_update(no_key=True).get(pk=project.pk)
        near_dup_recluster(project=locked)  # clusters two concurrent batches kept apart are one before splitting
        now = timezone.now()
        rows, votes = _collect_rows(locked, names=all_names, allowed=set(wanted), min_posterior=min_posterior,
                                    accepted_only=accepted_only, include_gold=include_gold, until=now,
                                    counts_as=category_rollup(parents, set(wanted)), parents=parents)  # fmt: skip
        rows = _apply_near_duplicates(locked, rows, exclude=exclude_near_duplicates)
        # Detection: every class a box carries is a class of the version, whether or not it is an image's label.
        used = {r.category_id for r in rows.values() if r.category_id is not None} | {
            int(b[4]) for r in rows.values() for b in r.boxes
        }
        classes = class_index_extend(locked, used, all_names, wnids)
        index = {c["category_id"]: c["index"] for c in classes if c["category_id"] is not None}
        ordered = [rows[k] for k in sorted(rows)]
        splits = hash_split([r.split_key for r in _with_split_keys(ordered)], fractions, seed)
        sources = _sources(locked, rows)
        no_source = ("", "", "")
        out = []
        for r, s in zip(ordered, splits.tolist(), strict=True):
            uri, lic, attr = sources.get(r.image_id, no_source)
            boxes = [[*b[:4], index.get(b[4], -1)] for b in r.boxes]
            posterior = None if r.posterior is None else round(r.posterior, 6)
            out.append(VersionRow(
                r.image_id, r.sha256, r.cluster_id, r.category_id, index.get(r.category_id, -1),
                all_names.get(r.category_id, ""), SPLIT_NAMES[s], posterior, r.votes, r.votes_total, r.soft_label,
                sorted(r.annotators), boxes, r.item_ids, r.is_gold, uri, lic[:200], attr[:500],
            ))  # fmt: skip
        filters = {"categories": [all_names[c] for c in wanted] if categories else None,
                   "category_ids": wanted if categories else None, "min_posterior": min_posterior,
                   "accepted_only": accepted_only, "include_gold": include_gold,
                   "exclude_near_duplicates": exclude_near_duplicates, "snapshot_at": now.isoformat(),
                   "excluded_items": Item.objects.filter(project=locked, excluded=True).count(),
                   "split_rule": HASH_SPLIT_RULE, "class_index": "append-only per project"}  # fmt: skip
        stats = _stats(classes, out, sum(r.votes_total for r in ordered))
        number = (DatasetVersion.objects.filter(project=locked).aggregate(m=Max("number"))["m"] or 0) + 1
        version = DatasetVersion(
            project=locked, number=number, name=(name or f"v{number}")[:200], filters=filters,
            split_train=fractions[0], split_val=fractions[1], split_test=fractions[2], seed=seed, classes=classes,
            items_count=len(out), content_hash=content_hash(classes, out), stats=stats, created_by=created_by,
        )  # fmt: skip
        item_ids = sorted({i for r in out for i in r.item_ids})
        version.filters["votes_snapshot"] = votes.count(item_ids)  # the votes behind the rows, cast up to `now`
        with translation.override(language or settings.LANGUAGE_CODE):
            version.card = dataset_card_render(project=locked, version=version)
        version.save()
        insert_rows(DatasetVersionItem, ("version_id", *VersionRow._fields), ((version.pk, *r) for r in out))
        copied = version_votes_copy(version, item_ids, now, votes.pseudonyms)
        assert copied == version.filters["votes_snapshot"], "votes changed under the project lock"
        webhooks_emit(project_id=locked.pk, event=WebhookEvent.VERSION_CREATED, data={
            "version": version.number, "version_id": version.pk, "name": version.name, "items": version.items_count,
            "classes": stats["classes"], "content_hash": version.content_hash})  # fmt: skip
    return version
