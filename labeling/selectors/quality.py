"""Reads for quality control: annotator scores, agreement statistics, progress and the budget forecast (the review
queue: selectors/review.py)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from django.db.models import (
    Case,
    Count,
    F,
    JSONField,
    Max,
    Min,
    Q,
    QuerySet,
    When,
)
from django.db.models.functions import Mod
from django.utils.translation import gettext as _

from annotate.conf import options
from annotate.db import IdList
from labeling.algorithms.agreement import (
    expected_extra_votes,
    fleiss_kappa,
    krippendorff_alpha_nominal,
    percent_agreement,
)
from labeling.models import Annotation, AnnotatorScore, Item, Project, ProjectQualitySnapshot
from labeling.services.quality.engine import DEFAULT_PRIOR_ACCURACY, blocked_user_ids, project_classes


def annotator_scores(*, project: Project) -> QuerySet[AnnotatorScore]:
    """Best estimated accuracy first (annotators not yet estimated last), then the busiest."""
    return (
        AnnotatorScore.objects.filter(project=project)
        .select_related("user")
        .order_by(F("ds_accuracy").desc(nulls_last=True), "-volume", "user_id")
    )


def gold_accuracy_histogram(*, project: Project, bins: int = 10) -> list[dict]:
    values = [
        v
        for v in AnnotatorScore.objects.filter(project=project, gold_accuracy__isnull=False).values_list(
            "gold_accuracy", flat=True
        )
    ]
    counts, edges = np.histogram(values, bins=bins, range=(0.0, 1.0))
    return [{"low": float(edges[i]), "high": float(edges[i + 1]), "count": int(c)} for i, c in enumerate(counts)]


@dataclass
class GroupStats:
    key: int | None
    name: str
    items: int = 0
    votes: int = 0
    fleiss_kappa: float | None = None
    krippendorff_alpha: float | None = None
    percent_agreement: float | None = None  # beside kappa/alpha: they are low when one class dominates
    vote_distribution: dict[str, int] = field(default_factory=dict)
    mean_posterior: float | None = None
    labels_per_accepted_item: float | None = None
    status_counts: dict[str, int] = field(default_factory=dict)
    posterior_histogram: list[int] = field(default_factory=list)
    budget_forecast: int = 0  # expected votes still needed to bring every open item to target


def _finite(x: float) -> float | None:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else round(float(x), 4)


# Knuth's multiplicative hash of the item id, as engine.audit_mask: a stable pseudo-random share of the items that
# SQLite and PostgreSQL both compute in the WHERE clause (the product stays below 2**63 for ids below 3.4e9).
_HASH_MUL, _HASH_MOD = 2654435761, 4294967296


_ITEM_STATS_COLUMNS = ("id", "category_id", "status", "confidence", "votes_count")


def _stats_rows(items: QuerySet[Item]) -> list[tuple]:
    """_ITEM_STATS_COLUMNS and, last, the posterior of open items only (the budget forecast's input): decoding
    every done item's posterior cost ~0.1 s a view at 20,000 sampled items."""
    open_posterior = Case(When(status=Item.Status.OPEN, then=F("posterior")), default=None, output_field=JSONField())
    return list(items.values_list(*_ITEM_STATS_COLUMNS, open_posterior))


def _stats_items(project: Project) -> tuple[list[tuple], bool, int]:
    """The rows (_stats_rows) of the items the statistics are computed on, whether they are a sample, and
    the project's item count. Up to QUALITY_STATS_SAMPLE_ITEMS items: all of them. Above: a fixed sample of about
    that size (the same items on every view): kappa and alpha on 20,000 items are within about 0.01 of the whole
    project's, and the page stays near a second at a million items instead of reading every item and vote (26).

    The sample is systematic over the project's id range: ids lo + k * (hi - lo) / limit, read by the primary key
    (a hash of every id in the WHERE clause scanned the whole project three times a view). Where other projects'
    items interleave with this one's so that fewer than half of those ids are this project's, the hash sample."""
    items = Item.objects.filter(project=project)
    bounds = items.aggregate(n=Count("id"), lo=Min("id"), hi=Max("id"))
    total, limit = bounds["n"], options().QUALITY_STATS_SAMPLE_ITEMS
    if total <= limit:
        return _stats_rows(items), False, total
    lo, span = bounds["lo"], bounds["hi"] - bounds["lo"] + 1
    picks = IdList(np.unique(lo + np.arange(limit, dtype=np.int64) * span // limit).tolist())
    rows = _stats_rows(items.filter(pk__any_of=picks))
    if len(rows) < limit // 2:
        threshold = int(_HASH_MOD * limit / total)
        hashed = items.alias(h=Mod(F("id") * _HASH_MUL, _HASH_MOD)).filter(h__lt=threshold)
        rows = _stats_rows(hashed)
    return rows, True, total


# Per-category statistics are shown a page of categories at a time: an ImageNet-shaped project has 1,000 of
# them, and 1,000 cards with two charts each took ~2 s to compute and render (issue 26).
CATEGORY_PAGE_SIZE = 50


def quality_stats(*, project: Project, page: int = 1) -> dict:
    """Project-wide and per-category agreement statistics and the budget forecast (classify: per voted class).
    On a large project they come from a fixed sample of its items (`_stats_items`): counts are scaled to the
    project and `sample` says so ({"items": sampled, "of": all}, None when every item was read). The categories
    come CATEGORY_PAGE_SIZE at a time, in id (verify) or class order: `categories_page` says which page of how
    many (a page past the last is the last)."""
    blocked = blocked_user_ids(project.pk)
    items, sampled, total = _stats_items(project)
    scale = total / len(items) if sampled and items else 1.0
    # a sample's votes by its item ids (one array parameter), every item's by the project
    of_items = {"item__id__any_of": IdList(row[0] for row in items)} if sampled else {"item__project": project}
    votes = list(
        Annotation.objects.filter(**of_items, label__isnull=False)
        .exclude(user_id__in=blocked)
        .values_list("item_id", "label")
    )
    classes = project_classes(project, [lab for _, lab in votes])
    index = {c: i for i, c in enumerate(classes)}
    names = (
        {1: _("yes"), 0: _("no")}
        if project.task_type == Project.TaskType.VERIFY
        else dict(project.categories.values_list("id", "name"))
    )
    names[-1] = _("none")
    snap = ProjectQualitySnapshot.objects.filter(project=project).first()
    accuracy = (
        float(np.mean(np.diagonal(snap.default_confusion)))
        if snap and snap.default_confusion
        else DEFAULT_PRIOR_ACCURACY
    )
    counts = np.zeros((len(items), max(len(classes), 1)), dtype=np.int64)
    if votes and items:  # one vectorised pass: 20,000 sampled items have ~100k votes
        pairs = np.array(votes, dtype=np.int64)
        item_ids = np.array([row[0] for row in items], dtype=np.int64)
        order = np.argsort(item_ids)
        at = np.minimum(np.searchsorted(item_ids, pairs[:, 0], sorter=order), len(items) - 1)
        class_at = np.array([index.get(int(label), -1) for label in np.unique(pairs[:, 1])], dtype=np.int64)
        cls = class_at[np.searchsorted(np.unique(pairs[:, 1]), pairs[:, 1])]
        keep = (item_ids[order[at]] == pairs[:, 0]) & (cls >= 0)
        np.add.at(counts, (order[at[keep]], cls[keep]), 1)
    category_names = dict(project.categories.values_list("id", "name"))

    def scaled(n: float) -> int:
        return round(float(n) * scale)

    def group(key: int | None, name: str, rows: list[int]) -> GroupStats:
        g = GroupStats(key=key, name=name, items=scaled(len(rows)))
        c = counts[rows] if rows else np.zeros((0, counts.shape[1]), dtype=np.int64)
        g.votes = scaled(c.sum())
        g.fleiss_kappa = _finite(fleiss_kappa(c)) if c.size else None
        g.krippendorff_alpha = _finite(krippendorff_alpha_nominal(c)) if c.size else None
        g.percent_agreement = _finite(percent_agreement(c)) if c.size else None
        totals = c.sum(axis=0)
        g.vote_distribution = {names.get(cls, str(cls)): scaled(n) for cls, n in zip(classes, totals, strict=True)}
        conf = np.array([items[r][3] for r in rows if items[r][3] is not None], dtype=np.float64)
        g.mean_posterior = _finite(conf.mean()) if conf.size else None
        g.posterior_histogram = np.histogram(conf, bins=10, range=(0.0, 1.0))[0].tolist()
        finished = [items[r][4] for r in rows if items[r][2] in (Item.Status.DONE, Item.Status.ACCEPTED)]
        g.labels_per_accepted_item = _finite(float(np.mean(finished))) if finished else None
        for r in rows:
            g.status_counts[items[r][2]] = g.status_counts.get(items[r][2], 0) + 1
        g.status_counts = {k: scaled(v) for k, v in g.status_counts.items()}
        open_rows = [r for r in rows if items[r][2] == Item.Status.OPEN]
        if open_rows:
            post = np.array([_vector(items[r][5], classes) for r in open_rows])
            g.budget_forecast = scaled(
                expected_extra_votes(post, project.confidence_target, accuracy, max_votes=project.max_votes).sum()
            )
        return g

    overall = group(None, _("all"), list(range(len(items))))
    keyed: list[tuple[int | None, str, list[int]]] = []  # every category's rows; stats for one page of them
    if project.task_type == Project.TaskType.VERIFY:
        by_cat: dict[int, list[int]] = {}
        for r, row in enumerate(items):
            by_cat.setdefault(row[1], []).append(r)
        keyed = [(k, category_names.get(k, "?"), rows) for k, rows in sorted(by_cat.items(), key=lambda kv: kv[0] or 0)]
    elif project.task_type == Project.TaskType.CLASSIFY:
        top = counts.argmax(axis=1) if len(items) else np.zeros(0, dtype=np.int64)
        voted = counts.sum(axis=1) > 0 if len(items) else np.zeros(0, dtype=bool)
        keyed = [(cls, names.get(cls, str(cls)), np.flatnonzero(voted & (top == ci)).tolist())
                 for ci, cls in enumerate(classes)]  # fmt: skip
    pages = max(1, math.ceil(len(keyed) / CATEGORY_PAGE_SIZE))
    page = min(max(1, int(page)), pages)
    start = (page - 1) * CATEGORY_PAGE_SIZE
    per_category = [group(k, name, rows) for k, name, rows in keyed[start : start + CATEGORY_PAGE_SIZE]]
    model = {"name": snap.model, "reason": snap.model_reason} if snap and snap.model else None
    sample = {"items": len(items), "of": total} if sampled else None
    return {
        "overall": overall,
        "categories": per_category,
        "categories_page": {"page": page, "pages": pages, "of": len(keyed)},
        "prior_accuracy": round(accuracy, 4),
        "model": model,
        "sample": sample,
    }


def _vector(posterior: dict | None, classes: list[int]) -> list[float]:
    if not posterior:
        return [1.0 / max(len(classes), 1)] * len(classes)
    return [float(posterior.get(str(c), 0.0)) for c in classes]


@dataclass(frozen=True)
class CategoryProgress:
    """Where a category's items stand: open (no vote yet), needs more votes, in review, done, rejected."""

    key: int | None
    name: str
    open: int = 0
    needs_more: int = 0
    in_review: int = 0
    done: int = 0
    rejected: int = 0

    @property
    def total(self) -> int:
        return self.open + self.needs_more + self.in_review + self.done + self.rejected


def progress_by_category(*, project: Project) -> list[CategoryProgress]:
    """Per category (verify: the candidate category; classify: the current label, "unlabelled" before any vote)
    the counts of open / needs-more / in-review / done / rejected items, then a total row. One query.
    Gold items are left out: they are checks, not work."""
    key = "category_id" if project.task_type == Project.TaskType.VERIFY else "label"
    rows = (
        Item.objects.filter(project=project, is_gold=False)
        .values(key, "status")
        .annotate(n=Count("id"), voted=Count("id", filter=Q(votes_count__gt=0)))
        .order_by()
    )
    names = dict(project.categories.values_list("id", "name"))
    if project.task_type == Project.TaskType.VERIFY:
        names = {**names, None: _("no category")}
    else:
        names = {**names, -1: _("none"), None: _("unlabelled")}
    counts: dict[int | None, dict[str, int]] = {}
    for row in rows:
        c = counts.setdefault(row[key], {"open": 0, "needs_more": 0, "in_review": 0, "done": 0, "rejected": 0})
        status, n, voted = row["status"], row["n"], row["voted"]
        if status == Item.Status.OPEN:
            c["open"] += n - voted
            c["needs_more"] += voted
        elif status == Item.Status.REVIEW:
            c["in_review"] += n
        elif status in (Item.Status.DONE, Item.Status.ACCEPTED):
            c["done"] += n
        else:
            c["rejected"] += n
    order = sorted(counts, key=lambda k: (k is None, names.get(k, str(k)).lower() if k is not None else ""))
    out = [CategoryProgress(k, names.get(k, str(k)), **counts[k]) for k in order]
    total = {f: sum(getattr(p, f) for p in out) for f in ("open", "needs_more", "in_review", "done", "rejected")}
    return [*out, CategoryProgress(None, _("all"), **total)]
