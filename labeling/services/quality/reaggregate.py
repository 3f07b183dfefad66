"""Full re-aggregation of a project: snapshot (snapshot.py) / compute / write (CONVENTIONS §6; see quality.md).

One run per project at a time (a PostgreSQL advisory lock; a second one finds it held and leaves).
1. read (snapshot.py): one REPEATABLE READ transaction reads the items and the votes (in id order; a binary COPY
   each on PostgreSQL) into arrays, with each item's version and current decision, the annotator statuses,
   their counters and the skips;
2. compute (no transaction): aggregation with gold and reviewed items clamped, annotator scores and status rules
   (a newly blocked annotator's votes are dropped and the aggregation re-run until no one else is blocked),
   calibration, every item decided at once (decisions.py: engine.item_decide's rule on arrays); only items
   whose state changed are kept;
3. write: a second transaction locks only those items (id order), writes the ones whose version is still the one
   read, through quality.transitions (items_write_columns: one COPY and one UPDATE on PostgreSQL), then the
   scores (counters as deltas on the locked rows), the log and the snapshot. After commit, every item with a vote
   of an annotator this run blocked and that it did not write is re-decided (online.annotators_blocked_apply):
   retroactive means all of them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from django.db import connection, transaction

from annotate.db import run_lock
from labeling.algorithms.aggregation import DEFAULT_METHOD, METHODS, AggregationResult, aggregate
from labeling.algorithms.posterior import symmetric_confusion
from labeling.models import (
    AnnotatorScore,
    Item,
    Project,
)
from labeling.services.quality import rules
from labeling.services.quality.annotator_stats import (
    NO_CONSENSUS,
    Proposal,
    WorkerStats,
    status_proposals,
    worker_stats,
)
from labeling.services.quality.calibration import calibration_compute
from labeling.services.quality.collusion import newcomers_copy_check
from labeling.services.quality.decisions import item_changes
from labeling.services.quality.engine import (
    DEFAULT_PRIOR_ACCURACY,
    STATUS_WEIGHT,
    audit_mask,
    proven_on_gold,
)
from labeling.services.quality.snapshot import NO_LABEL, Snapshot, snapshot_read
from labeling.services.quality.transitions import Caller, items_write_columns

# Advisory lock pair (LOCK_CLASS, project id): one re-aggregation per project (7312 / 7313: ingest, export).
LOCK_CLASS = 7_314
MAX_BLOCK_PASSES = 5  # aggregation re-runs after blocks (each pass can only block more people; bounded anyway)


@dataclass
class ReaggregateResult:
    method: str
    items: int = 0
    votes: int = 0
    items_written: int = 0
    reopened: list[int] = field(default_factory=list)
    newly_blocked: list[int] = field(default_factory=list)
    changed_since_read: list[int] = field(default_factory=list)  # decided by someone else meanwhile: not written
    retro: int = 0  # items re-decided after commit because of this run's blocks
    skipped: bool = False  # another re-aggregation of the project was running


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


def _codes(values: np.ndarray, classes: list[int]) -> np.ndarray:
    """Each value's index in `classes` (-1 for a value not in it), vectorised (5M votes)."""
    if not classes:
        return np.full(values.shape, -1, dtype=np.int64)
    order = np.argsort(np.asarray(classes, dtype=np.int64), kind="stable")
    ordered = np.asarray(classes, dtype=np.int64)[order]
    at = np.minimum(np.searchsorted(ordered, values), ordered.size - 1)
    return np.where(ordered[at] == values, order[at], -1).astype(np.int64)


def _aggregate(snap: Snapshot, classes: list[int], method: str, excluded: set[int]) -> _Aggregated:
    it, v = snap.items, snap.votes
    code = _codes(v["label"], classes)
    keep = (code >= 0) & ~np.isin(v["user"], np.fromiter(excluded, dtype=np.int64, count=len(excluded)))
    item_pos = np.searchsorted(it["id"], v["item"][keep])
    users, workers = np.unique(v["user"][keep], return_inverse=True)
    known_label = np.where(
        it["gold"], it["gold_label"], np.where(it["status"] == Item.Status.ACCEPTED, it["label"], NO_LABEL)
    )
    known_code = _codes(known_label, classes)
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
        classes = snap.category_ids + ([-1] if (snap.votes["label"] == -1).any() else [])
    excluded = {u for u, (s, _) in snap.statuses.items() if s == AnnotatorScore.Status.BLOCKED}
    newly_blocked: dict[int, str] = {}
    for _pass in range(MAX_BLOCK_PASSES + 1):
        a = _aggregate(snap, classes, method, excluded)
        agg = a.result
        voted = np.unique(a.item_pos)
        consensus = np.full(it["id"].size, NO_CONSENSUS, dtype=np.int64)  # items with a counted vote: their label
        consensus[voted] = np.asarray(classes, dtype=np.int64)[agg.labels[voted]]
        stats = worker_stats(snap, consensus)
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
        if not fresh or _pass == MAX_BLOCK_PASSES:
            break  # (the last pass's blocks are written by scores_write and made retroactive after commit)
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


def _write(snap: Snapshot, out: Computed, method: str) -> ReaggregateResult | None:
    from labeling.services.quality.store import calibration_write, scores_write, snapshot_write

    it = snap.items
    result = ReaggregateResult(method=method, items=int(it["id"].size), votes=int(snap.votes["item"].size))
    decided, gold = item_changes(snap, out)
    with transaction.atomic():
        # Lock order: project (NO KEY UPDATE: still blocks a delete, but not a vote's foreign-key check on
        # commit), then the items to write by id, then scores, like a vote (item, then its author's score). Only
        # the items this run changes are locked; each is written only if its version is still the one read.
        if not Project.objects.select_for_update(no_key=True).filter(pk=snap.project.pk).exists():
            return None
        ids = np.unique(np.r_[decided.ids, gold.ids]).tolist()
        locked = Item.objects.filter(pk__any_of=ids).select_for_update(no_key=True).order_by("id")
        current = _rows(locked.values_list("id", "version")) if ids else np.zeros((0, 2), dtype=np.int64)
        for changes in (decided, gold):
            at = np.searchsorted(current[:, 0], changes.ids)
            found = at < len(current)
            found[found] = current[at[found], 0] == changes.ids[found]
            fresh = found.copy()
            fresh[found] = current[at[found], 1] == changes.versions[found]
            result.changed_since_read += changes.ids[~fresh].tolist()
            keep = np.flatnonzero(fresh)
            items_write_columns(caller=Caller.REAGGREGATE, ids=changes.ids[keep], versions=changes.versions[keep],
                                before=changes.before[keep],
                                columns={name: [values[i] for i in keep.tolist()]
                                         for name, values in changes.columns.items()})  # fmt: skip
            result.items_written += int(keep.size)
            if "status" in changes.columns:
                status, before = changes.columns["status"], changes.before
                result.reopened += [int(changes.ids[i]) for i in keep.tolist()
                                    if status[i] == Item.Status.OPEN and before[i] == Item.Status.DONE]  # fmt: skip
        result.newly_blocked = scores_write(snap=snap, out=out)
        calibration_write(project=snap.project, calibration=out.calibration)
        snapshot_write(snap=snap, out=out, method=method)
    return result


def _rows(queryset) -> np.ndarray:
    """An integer values_list queryset's rows as one array, fetched by the cursor (no Django per row: a first run
    locks a million items)."""
    sql, params = queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return np.array(cursor.fetchall(), dtype=np.int64).reshape(-1, 2)


def _retroactive(snap: Snapshot, out: Computed, result: ReaggregateResult) -> None:
    """After commit: every item with a vote of someone this run blocked (in any pass) that the run did not write
    itself -- it changed since the read, or a later pass blocked its voter -- is re-decided without their votes."""
    from labeling.services.quality.online import annotators_blocked_apply

    blocked = sorted(set(result.newly_blocked))
    if not blocked:
        return
    reopened = annotators_blocked_apply(project=snap.project, user_ids=blocked)
    result.reopened = sorted(set(result.reopened) | set(reopened))
    result.retro = len(reopened)


def project_reaggregate(*, project_id: int, method: str | None = None) -> ReaggregateResult | None:
    """Re-aggregate every vote of the project; None when the project is gone. Idempotent. One run per project at
    a time: a run that finds another one going returns at once (`skipped`), the running one covers its votes."""
    with run_lock(LOCK_CLASS, project_id) as acquired:
        if not acquired:
            return ReaggregateResult(method=method or "", skipped=True)
        snap = reaggregate_read(project_id=project_id)
        result = None if snap is None else reaggregate_finish(snap=snap, method=method)
        if result is not None and snap.project.task_type != Project.TaskType.BOXES:
            # Then the newcomers (collusion.newcomers_copy_check), under the same lock: a block enqueues the next
            # run, which leaves them out; this run's scores (their estimated accuracy) are kept for the reviewer.
            result.newly_blocked += newcomers_copy_check(project_id=project_id)
        return result


def reaggregate_read(*, project_id: int) -> Snapshot | None:
    """Phase 1 (the snapshot), public so that the race tests can write between the read and the rest."""
    return snapshot_read(project_id)


def reaggregate_finish(*, snap: Snapshot, method: str | None = None) -> ReaggregateResult | None:
    """Phases 2 and 3 and the retroactive re-decisions, for a snapshot read by reaggregate_read."""
    method = method or snap.project.aggregation_method
    method = method if method in METHODS else DEFAULT_METHOD
    if snap.project.task_type == Project.TaskType.BOXES:
        result = _write_boxes_scores(snap, method)
        if result is not None:
            from labeling.services.quality.online import annotators_blocked_apply

            annotators_blocked_apply(project=snap.project, user_ids=result.newly_blocked)
        return result
    out = _compute(snap, method)
    result = _write(snap, out, method)
    if result is not None:
        from labeling.services.quality.stalled import items_route_stalled

        _retroactive(snap, out, result)
        items_route_stalled(project=snap.project)
    return result


def _write_boxes_scores(snap: Snapshot, method: str) -> ReaggregateResult | None:
    """Boxes: consensus is per item (online, box_consensus); here only the annotator scores are refreshed."""
    from labeling.services.quality.store import scores_write

    stats = worker_stats(snap, None)
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
