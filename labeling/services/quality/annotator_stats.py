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


def worker_stats(snap, consensus: dict[int, int]) -> dict[int, WorkerStats]:
    """Per annotator: volume, gold record, agreement with consensus, median time, top-answer share, skips.
    `snap` is a snapshot.Snapshot (items, votes, skips as arrays)."""
    v = snap.votes
    gold_of = {
        int(i): int(g)
        for i, g, is_g in zip(snap.items["id"], snap.items["gold_label"], snap.items["gold"], strict=True)
        if is_g
    }
    stats: dict[int, WorkerStats] = {}
    users, inverse = np.unique(v["user"], return_inverse=True) if v["user"].size else (np.zeros(0, np.int64), None)
    for w, uid in enumerate(users.tolist()):
        mine = np.flatnonzero(inverse == w)
        item_ids, labels, ms = v["item"][mine], v["label"][mine], v["ms"][mine]
        gold_mask = np.array([i in gold_of for i in item_ids.tolist()], dtype=bool)
        gold_correct = int(
            sum(
                gold_of[i] == lab
                for i, lab in zip(item_ids[gold_mask].tolist(), labels[gold_mask].tolist(), strict=True)
            )
        )
        agree = [
            consensus[i] == lab for i, lab in zip(item_ids.tolist(), labels.tolist(), strict=True) if i in consensus
        ]
        timed = ms[ms > 0]
        _, counts = np.unique(labels, return_counts=True)
        skips = snap.skips.get(uid, 0)
        stats[uid] = WorkerStats(
            volume=int(mine.size),
            gold_seen=int(gold_mask.sum()),
            gold_correct=gold_correct,
            agreement=float(np.mean(agree)) if agree else None,
            median_time_ms=float(np.median(timed)) if timed.size else None,
            timed=int(timed.size),
            top_answer_share=float(counts.max() / mine.size),
            skips=skips,
            skip_rate=skips / (skips + mine.size),
            min_answer_ms=rules.min_answer_ms(snap.project.task_type),
            agreement_n=len(agree),
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
