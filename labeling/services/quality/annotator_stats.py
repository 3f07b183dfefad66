"""What a re-aggregation measures of each annotator (volume, gold record, agreement, speed, skips) and the status
the rules propose from it; reaggregate.py computes, store.py writes."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from labeling.services.quality import rules


@dataclass(frozen=True)
class WorkerStats:
    """What a re-aggregation measured of one annotator (the score row's raw material)."""

    volume: int
    gold_seen: int
    gold_correct: int
    agreement: float | None
    median_time_ms: float | None
    timed: int
    top_answer_share: float
    skips: int
    skip_rate: float
    min_answer_ms: float = rules.MIN_HUMAN_MS  # the task type's speed floor (rules.min_answer_ms)
    agreement_n: int = 0  # votes compared with the consensus


@dataclass(frozen=True)
class Proposal:
    """The status rules' verdict on one annotator, with their gold accuracy and its Wilson interval."""

    status: str | None
    reason: str
    gold: dict[str, float | None]


NO_CONSENSUS = np.iinfo(np.int64).min  # an item without a consensus (no counted vote)


def _per_user_median(user: np.ndarray, values: np.ndarray, n_users: int) -> np.ndarray:
    """np.median of each user's values (NaN for none), all users at once: sorted by (user, value), the middle one
    or the mean of the middle two."""
    order = np.lexsort((values, user))
    u, x = user[order], values[order].astype(np.float64)
    counts = np.bincount(u, minlength=n_users)
    starts = np.r_[0, np.cumsum(counts)[:-1]]
    out = np.full(n_users, np.nan)
    has = counts > 0
    lo = starts[has] + (counts[has] - 1) // 2
    hi = starts[has] + counts[has] // 2
    out[has] = np.where(lo == hi, x[lo], (x[lo] + x[hi]) / 2.0)
    return out


def worker_stats(snap, consensus: np.ndarray | None) -> dict[int, WorkerStats]:
    """Per annotator: volume, gold record, agreement with consensus, median time, top-answer share, skips.
    `snap` is a snapshot.Snapshot (items, votes, skips as arrays); `consensus` per item (like snap.items) its
    consensus label or NO_CONSENSUS, None for no consensus at all. Vectorised over the votes (5M at ImageNet
    scale): bincounts per user, not a Python pass over each one's votes."""
    v, it = snap.votes, snap.items
    if not v["user"].size:
        return {}
    pos = np.searchsorted(it["id"], v["item"])
    labels = v["label"]
    users, inverse = np.unique(v["user"], return_inverse=True)
    n = users.size
    volume = np.bincount(inverse, minlength=n)
    on_gold = it["gold"][pos]
    gold_seen = np.bincount(inverse[on_gold], minlength=n)
    gold_correct = np.bincount(inverse[on_gold & (it["gold_label"][pos] == labels)], minlength=n)
    if consensus is None:
        compared, agreed = np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64)
    else:
        cons = consensus[pos]
        has = cons != NO_CONSENSUS
        compared = np.bincount(inverse[has], minlength=n)
        agreed = np.bincount(inverse[has & (cons == labels)], minlength=n)
    timed_mask = v["ms"] > 0
    timed = np.bincount(inverse[timed_mask], minlength=n)
    median = _per_user_median(inverse[timed_mask], v["ms"][timed_mask], n)
    # the most frequent answer's count per user: count each (user, label) pair, keep each user's largest
    values, label_code = np.unique(labels, return_inverse=True)
    pairs, pair_counts = np.unique(inverse.astype(np.int64) * values.size + label_code, return_counts=True)
    top = np.zeros(n, dtype=np.int64)
    np.maximum.at(top, pairs // values.size, pair_counts)
    floor = rules.min_answer_ms(snap.project.task_type)
    stats: dict[int, WorkerStats] = {}
    for w, uid in enumerate(users.tolist()):
        skips = snap.skips.get(uid, 0)
        size = int(volume[w])
        stats[uid] = WorkerStats(
            volume=size,
            gold_seen=int(gold_seen[w]),
            gold_correct=int(gold_correct[w]),
            agreement=float(agreed[w] / compared[w]) if compared[w] else None,
            median_time_ms=float(median[w]) if timed[w] else None,
            timed=int(timed[w]),
            top_answer_share=float(top[w] / size),
            skips=skips,
            skip_rate=skips / (skips + size),
            min_answer_ms=floor,
            agreement_n=int(compared[w]),
        )
    return stats


def status_proposals(stats: dict[int, WorkerStats], skew: float) -> dict[int, Proposal]:
    proposals = {}
    for uid, st in stats.items():
        gold = rules.gold_fields(st.gold_seen, st.gold_correct)
        ev = rules.Evidence(
            st.gold_seen,
            gold["gold_wilson_high"],
            st.volume,
            st.timed,
            st.median_time_ms,
            st.top_answer_share,
            skew,
            min_answer_ms=st.min_answer_ms,
            gold_low=gold["gold_wilson_low"],
            agreement=st.agreement,
            agreement_n=st.agreement_n,
        )
        proposals[uid] = Proposal(*rules.status_by_rules(ev), gold)
    return proposals
