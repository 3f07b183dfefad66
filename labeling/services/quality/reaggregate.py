"""Full re-aggregation of a project: snapshot / compute / write (CONVENTIONS §6; see quality.md).

1. read: one REPEATABLE READ transaction copies the items, votes, annotator statuses and skips into arrays;
2. compute (no transaction): aggregation with gold and reviewed items clamped, annotator scores and status rules
   (a newly blocked annotator's votes are dropped and the aggregation re-run), per-item decisions, calibration;
3. write: a second transaction re-checks that the project still exists and writes only items whose vote count
   did not change meanwhile (those were already re-decided online), the scores, the log and the snapshot.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from django.db import connection, transaction

from annotate.db import bulk_update_values
from labeling.algorithms.aggregation import DEFAULT_METHOD, METHODS, AggregationResult, aggregate
from labeling.algorithms.posterior import symmetric_confusion
from labeling.models import (
    Annotation,
    AnnotatorScore,
    Item,
    Project,
    Skip,
)
from labeling.services.quality import rules
from labeling.services.quality.annotator_stats import Proposal, WorkerStats, status_proposals, worker_stats
from labeling.services.quality.calibration import calibration_compute
from labeling.services.quality.engine import (
    DEFAULT_PRIOR_ACCURACY,
    PROJECT_KEY,
    STATUS_WEIGHT,
    audit_mask,
    decide,
    effective_target,
    model_vote,
    posterior_json,
    proven_on_gold,
)

REVIEWED = (Item.Status.ACCEPTED, Item.Status.REJECTED)
NO_LABEL = -(2**31)


@dataclass
class Snapshot:
    project: Project
    items: dict[str, np.ndarray]
    votes: dict[str, np.ndarray]
    statuses: dict[int, tuple[str, bool]]
    skips: dict[int, int]
    category_ids: list[int]
    model_probs: dict[int, dict] = field(default_factory=dict)  # item id -> model_probs, items with a model vote


@dataclass
class ReaggregateResult:
    method: str
    items: int = 0
    votes: int = 0
    items_written: int = 0
    reopened: list[int] = field(default_factory=list)
    newly_blocked: list[int] = field(default_factory=list)


def _read(project_id: int) -> Snapshot | None:
    outermost = not connection.in_atomic_block  # nested (a caller's transaction): its isolation level holds
    with transaction.atomic():
        if connection.vendor == "postgresql" and outermost:
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        project = Project.objects.filter(pk=project_id).first()
        if project is None:
            return None
        rows = list(
            Item.objects.filter(project_id=project_id).values_list(
                "id", "category_id", "is_gold", "gold_label", "status", "votes_count", "label"
            )
        )
        cols = list(zip(*rows, strict=True)) if rows else [()] * 7
        items = {
            "id": np.asarray(cols[0], dtype=np.int64),
            "category": np.asarray([c if c is not None else -1 for c in cols[1]], dtype=np.int64),
            "gold": np.asarray(cols[2], dtype=bool),
            "gold_label": np.asarray([g if g is not None else NO_LABEL for g in cols[3]], dtype=np.int64),
            "status": np.asarray(cols[4], dtype=object),
            "votes_count": np.asarray(cols[5], dtype=np.int64),
            "label": np.asarray([g if g is not None else NO_LABEL for g in cols[6]], dtype=np.int64),
        }
        vrows = list(
            Annotation.objects.filter(item__project_id=project_id)
            .order_by("id")
            .values_list("item_id", "user_id", "label", "time_spent_ms")
        )
        # Box votes carry no label: a sentinel no class maps to (classify's "none" is -1, a real label).
        vrows = [(i, u, NO_LABEL if lab is None else lab, ms) for i, u, lab, ms in vrows]
        vcols = list(zip(*vrows, strict=True)) if vrows else [()] * 4
        votes = {
            name: np.asarray(col, dtype=np.int64)
            for name, col in zip(("item", "user", "label", "ms"), vcols, strict=True)
        }
        statuses = {
            uid: (status, locked)
            for uid, status, locked in AnnotatorScore.objects.filter(project_id=project_id).values_list(
                "user_id", "status", "status_locked"
            )
        }
        skips: dict[int, int] = {}
        for uid in Skip.objects.filter(item__project_id=project_id).values_list("user_id", flat=True).iterator():
            skips[uid] = skips.get(uid, 0) + 1
        category_ids = list(project.categories.order_by("id").values_list("id", flat=True))
        model_probs = dict(
            Item.objects.filter(project_id=project_id, is_gold=False, model_probs__has_key="vote").values_list(
                "id", "model_probs"
            )
        )
    return Snapshot(project, items, votes, statuses, skips, category_ids, model_probs)


@dataclass
class Computed:
    """Everything the compute step hands to the write step (all arrays indexed like `users`)."""

    classes: list[int]
    users: np.ndarray  # (n_workers,) user ids of the counted annotators
    stats: dict[int, WorkerStats]
    proposals: dict[int, Proposal]
    newly_blocked: dict[int, str]
    agg: AggregationResult | None = None
    confusion: np.ndarray | None = None  # (n_workers, K, K)
    default_confusion: np.ndarray | None = None  # (K, K) for annotators the snapshot does not know
    skill: np.ndarray | None = None  # (n_workers,)
    skill_interval: np.ndarray | None = None  # (n_workers, 2)
    evidence: np.ndarray | None = None  # (n_workers,)
    prior_acc: float = DEFAULT_PRIOR_ACCURACY
    n_active: np.ndarray | None = None  # (n_items,) counted votes per item
    single_voter: np.ndarray | None = None  # (n_items,) the user id of an item's only counted vote, else -1
    calibration: dict = field(default_factory=dict)

    def proven(self, uid: int) -> bool:
        gold = self.proposals[uid].gold if uid in self.proposals else {}
        return proven_on_gold(self.stats[uid].gold_seen if uid in self.stats else 0, gold.get("gold_wilson_low"))


@dataclass(frozen=True)
class _Aggregated:
    result: AggregationResult
    users: np.ndarray
    item_pos: np.ndarray
    workers: np.ndarray
    codes: np.ndarray
    clamp: np.ndarray
    clamp_codes: np.ndarray


def _aggregate(snap: Snapshot, classes: list[int], method: str, excluded: set[int]) -> _Aggregated:
    it, v = snap.items, snap.votes
    index = {value: i for i, value in enumerate(classes)}
    code = np.array([index.get(int(x), -1) for x in v["label"].tolist()], dtype=np.int64)
    keep = (code >= 0) & ~np.isin(v["user"], np.fromiter(excluded, dtype=np.int64, count=len(excluded)))
    item_pos = np.searchsorted(it["id"], v["item"][keep])
    users, workers = np.unique(v["user"][keep], return_inverse=True)
    known_label = np.where(
        it["gold"], it["gold_label"], np.where(it["status"] == Item.Status.ACCEPTED, it["label"], NO_LABEL)
    )
    known_code = np.array([index.get(int(x), -1) for x in known_label.tolist()], dtype=np.int64)
    clamp = np.flatnonzero(known_code >= 0)
    weights = np.array([STATUS_WEIGHT[snap.statuses.get(int(u), ("new", False))[0]] for u in users.tolist()])
    result = aggregate(
        method if method in METHODS else DEFAULT_METHOD,
        item_pos,
        workers.astype(np.int64),
        code[keep],
        n_items=it["id"].size,
        n_workers=users.size,
        n_classes=len(classes),
        gold_items=clamp,
        gold_labels=known_code[clamp],
        worker_weights=weights if method == "wmv" else None,
    )
    return _Aggregated(result, users, item_pos, workers.astype(np.int64), code[keep], clamp, known_code[clamp])


def _single_voter(item_pos: np.ndarray, workers: np.ndarray, users: np.ndarray, n_items: int) -> np.ndarray:
    """Per item, the user id of its only counted vote (-1 for items with none or several)."""
    counts = np.bincount(item_pos, minlength=n_items)
    out = np.full(n_items, -1, dtype=np.int64)
    single = counts[item_pos] == 1
    out[item_pos[single]] = users[workers[single]]
    return out


def _compute(snap: Snapshot, method: str) -> Computed:
    project, it = snap.project, snap.items
    if project.task_type == Project.TaskType.VERIFY:
        classes = [0, 1]
    else:
        classes = snap.category_ids + ([-1] if -1 in set(snap.votes["label"].tolist()) else [])
    excluded = {u for u, (s, _) in snap.statuses.items() if s == AnnotatorScore.Status.BLOCKED}
    newly_blocked: dict[int, str] = {}
    for _pass in range(2):
        a = _aggregate(snap, classes, method, excluded)
        agg = a.result
        consensus = {int(it["id"][p]): classes[int(agg.labels[p])] for p in np.unique(a.item_pos).tolist()}
        stats = worker_stats(snap, consensus)
        voted = np.unique(a.item_pos)
        shares = np.bincount(agg.labels[voted], minlength=len(classes)) if a.item_pos.size else np.ones(1)
        skew = float(shares.max() / max(shares.sum(), 1))
        proposals = status_proposals(stats, skew)
        fresh = {
            uid: p.reason
            for uid, p in proposals.items()
            if p.status == AnnotatorScore.Status.BLOCKED
            and uid not in excluded
            and not snap.statuses.get(uid, ("new", False))[1]
        }
        if not fresh:
            break
        newly_blocked.update(fresh)
        excluded |= set(fresh)
    k = len(classes)
    skill = np.nan_to_num(agg.worker_skill, nan=DEFAULT_PRIOR_ACCURACY)
    confusion = agg.worker_confusion
    if confusion is None:
        confusion = symmetric_confusion(np.clip(skill, 0.05, 0.99), k)
    busy = np.bincount(a.workers, minlength=a.users.size) >= 10
    prior_acc = float(np.clip(np.median(skill[busy]), 0.55, 0.9)) if busy.any() else DEFAULT_PRIOR_ACCURACY
    pooled = getattr(agg, "pooled_confusion", None)
    default = pooled if pooled is not None else symmetric_confusion(prior_acc, k)
    n_active = np.bincount(a.item_pos, minlength=it["id"].size)
    audited = np.flatnonzero(
        audit_mask(it["id"], project.audit_rate)
        & (n_active >= project.max_votes)
        & ~np.isin(np.arange(it["id"].size), a.clamp)
    )
    calib = calibration_compute(
        snap=snap,
        classes=classes,
        item_pos=a.item_pos,
        workers=a.workers,
        codes=a.codes,
        confusion=confusion,
        priors=agg.class_priors,
        temperature=float(agg.temperature),
        checked=(np.r_[a.clamp, audited], np.r_[a.clamp_codes, agg.labels[audited]]),
        labels=agg.labels,
        target=float(project.confidence_target),
        min_votes=int(project.min_votes),
    )
    return Computed(
        classes=classes,
        users=a.users,
        stats=stats,
        proposals=proposals,
        newly_blocked=newly_blocked,
        agg=agg,
        confusion=confusion,
        default_confusion=default,
        skill=skill,
        skill_interval=getattr(agg, "worker_skill_interval", None),
        evidence=getattr(agg, "worker_evidence", None),
        prior_acc=prior_acc,
        n_active=n_active,
        single_voter=_single_voter(a.item_pos, a.workers, a.users, int(it["id"].size)),
        calibration=calib,
    )


def _decisions(snap: Snapshot, out: Computed) -> list[tuple[int, dict]]:
    """The new field values of every item the engine may change (not gold, not reviewed)."""
    project, it, classes, agg = snap.project, snap.items, out.classes, out.agg
    targets = {key: effective_target(project, c) for key, c in out.calibration.items()}
    proven = {uid for uid in out.users.tolist() if out.proven(uid)}
    audited_items = audit_mask(it["id"], project.audit_rate)
    changes = []
    for p in range(it["id"].size):
        post = agg.posteriors[p]
        vote = model_vote(snap.model_probs.get(int(it["id"][p])), classes, is_gold=bool(it["gold"][p]))
        post = vote.fold(post) if vote else post
        fields = {"posterior": posterior_json(classes, post), "label": classes[int(post.argmax())]}
        fields["confidence"] = round(float(post.max()), 6)
        n = int(out.n_active[p])
        fields["votes_count"] = n
        if it["gold"][p] or it["status"][p] in REVIEWED:
            if it["gold"][p]:
                changes.append((p, {"votes_count": n}))
            continue
        if n == 0 and not (vote and vote.proven and project.min_votes == 0):
            fields.update(posterior=None, label=None, confidence=None, status=Item.Status.OPEN, review_reason="")
            changes.append((p, fields))
            continue
        key = int(it["category"][p]) if project.task_type == Project.TaskType.VERIFY else fields["label"]
        wide = targets.get(PROJECT_KEY, float(project.confidence_target))
        target = targets.get(key if key is not None and key >= 0 else None, wide)
        d = decide(
            n_votes=n,
            posterior=post,
            min_votes=project.min_votes,
            max_votes=project.max_votes,
            target=target,
            prior_accuracy=out.prior_acc,
            single_voter_proven=n == 1 and int(out.single_voter[p]) in proven,
            audit=bool(audited_items[p]),
            model_voter_proven=bool(vote and vote.proven),
        )
        fields.update(status=d.status, needed_votes=d.needed_votes, priority=d.priority, review_reason=d.review_reason)
        changes.append((p, fields))
    return changes


def _write(snap: Snapshot, out: Computed, method: str) -> ReaggregateResult | None:
    from labeling.services.quality.store import calibration_write, scores_write, snapshot_write

    it = snap.items
    result = ReaggregateResult(method=method, items=int(it["id"].size), votes=int(snap.votes["item"].size))
    with transaction.atomic():
        # Lock order: project (NO KEY UPDATE: still blocks a delete, but not a vote's foreign-key check on
        # commit), then the items by id, then scores, like a vote (item, then its author's score). With the item
        # rows locked, "unchanged since the read" stays true until we write: no vote lands in between.
        if not Project.objects.select_for_update(no_key=True).filter(pk=snap.project.pk).exists():
            return None
        current = {
            pk: (votes, status)
            for pk, votes, status in Item.objects.filter(project_id=snap.project.pk)
            .select_for_update(no_key=True)
            .order_by("id")
            .values_list("id", "votes_count", "status")
        }
        # Grouped by the fields each item gets: gold items only take their vote count, and writing a union of
        # fields would reset the rest of their row to the model's defaults.
        groups: dict[tuple[str, ...], list[Item]] = {}
        for p, fields in _decisions(snap, out):
            item_id = int(it["id"][p])
            if current.get(item_id) != (int(it["votes_count"][p]), it["status"][p]):
                continue  # changed since the read: the online update already decided it
            if fields.get("status") == Item.Status.OPEN and it["status"][p] == Item.Status.DONE:
                result.reopened.append(item_id)
            groups.setdefault(tuple(sorted(fields)), []).append(Item(id=item_id, **fields))
        for names, updates in groups.items():
            bulk_update_values(Item, updates, names)
        result.items_written = sum(len(updates) for updates in groups.values())
        result.newly_blocked = scores_write(snap=snap, out=out)
        calibration_write(project=snap.project, calibration=out.calibration)
        snapshot_write(snap=snap, out=out, method=method)
    return result


def project_reaggregate(*, project_id: int, method: str | None = None) -> ReaggregateResult | None:
    """Re-aggregate every vote of the project; None when the project is gone. Idempotent."""
    snap = _read(project_id)
    if snap is None:
        return None
    method = method or snap.project.aggregation_method
    method = method if method in METHODS else DEFAULT_METHOD
    if snap.project.task_type == Project.TaskType.BOXES:
        return _write_boxes_scores(snap, method)
    out = _compute(snap, method)
    result = _write(snap, out, method)
    if result is not None:
        from labeling.services.quality.stalled import items_route_stalled

        items_route_stalled(project=snap.project)
    return result


def _write_boxes_scores(snap: Snapshot, method: str) -> ReaggregateResult | None:
    """Boxes: consensus is per item (online, box_consensus); here only the annotator scores are refreshed."""
    from labeling.services.quality.store import scores_write

    stats = worker_stats(snap, {})
    proposals = {}
    for uid, st in stats.items():
        ev = rules.Evidence(0, None, st.volume, st.timed, st.median_time_ms, None, 1.0)
        proposals[uid] = Proposal(*rules.status_by_rules(ev), rules.gold_fields(0, 0))
    out = Computed(classes=[], users=np.zeros(0, np.int64), stats=stats, proposals=proposals, newly_blocked={})
    with transaction.atomic():
        if not Project.objects.filter(pk=snap.project.pk).exists():
            return None
        blocked = scores_write(snap=snap, out=out)
    return ReaggregateResult(method=method, items=int(snap.items["id"].size), votes=0, newly_blocked=blocked)
