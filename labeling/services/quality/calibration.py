"""Per-category calibration of the stopping rule against checked items (see quality.md, "Calibration").

Checked items: gold and reviewed items (their known answer), and audit items that collected max votes (the
consensus of all their votes, ImageNet's initial subset per synset). Their votes are replayed in order with the
final worker models, *without* clamping: the first prefix whose posterior reaches the target is where the engine
would have stopped, and whether it was right there measures how honest the target is. Per key (verify: the item's
category; classify: the predicted category; PROJECT_KEY: all) we record the stopping events, their mean claimed
confidence and accuracy, the corrected target, and ImageNet's per-synset vote table: accuracy of the consensus of
the first n votes, for n = 1..max votes."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from labeling.algorithms.posterior import batch_posteriors
from labeling.models import Project
from labeling.services.quality.engine import CALIBRATION_MIN_CHECKED, PROJECT_KEY, stop_error, stops, target_grid

TABLE_MIN_ITEMS = 10  # a vote-table row counts for needed_votes only with this many checked items


@dataclass
class CalibrationData:
    n_checked: int = 0
    n_correct: int = 0
    mean_confidence: float | None = None
    accuracy: float | None = None
    target: float | None = None
    needed_votes: int | None = None
    vote_table: list[dict] = field(default_factory=list)


def _ranks(item_pos: np.ndarray) -> np.ndarray:
    """Rank of each vote within its item, in the given (chronological) order."""
    order = np.argsort(item_pos, kind="stable")
    sorted_items = item_pos[order]
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_items)) + 1]
    group_start = np.repeat(starts, np.diff(np.r_[starts, sorted_items.size]))
    ranks = np.empty_like(item_pos)
    ranks[order] = np.arange(item_pos.size) - group_start
    return ranks


def _stopping_events(
    prefix_post: list[np.ndarray], votes_per_item: np.ndarray, target: float, min_votes: int
) -> tuple[np.ndarray, np.ndarray]:
    """Per checked item, the first prefix of its votes (>= 2 votes, >= min votes) at which the engine would have
    stopped (top posterior >= target): (confidence claimed there, or NaN if it never would; index of the claimed
    class, or -1)."""
    n_checked = votes_per_item.size
    confidence = np.full(n_checked, np.nan)
    claimed = np.full(n_checked, -1, dtype=np.int64)
    for n, post in enumerate(prefix_post, start=1):
        top = post.max(axis=1)
        # engine.stops is the decider's own rule: a replayed prefix stops where a live item would have
        stop = np.isnan(confidence) & (votes_per_item >= n) & stops(np.full(n_checked, n), top, target, min_votes)
        confidence[stop] = top[stop]
        claimed[stop] = post[stop].argmax(axis=1)
    return confidence, claimed


def _calibrated_target(
    prefix_post: list[np.ndarray],
    votes_per_item: np.ndarray,
    truth: np.ndarray,
    sel: np.ndarray,
    target: float,
    min_votes: int,
) -> float:
    """The lowest threshold (engine.target_grid) at which the stops replayed on these checked items are right at
    least `target` of the time (engine.stop_error); the strictest one if none is. A fixed point, not one
    correction step: raising the threshold changes which items stop and where."""
    grid = target_grid(target)
    for threshold in grid:
        conf, claimed = _stopping_events(prefix_post, votes_per_item, float(threshold), min_votes)
        events = sel & ~np.isnan(conf)
        n = int(events.sum())
        if n == 0:
            continue
        wrong = int((claimed[events] != truth[events]).sum())
        if stop_error(wrong, n, float(1.0 - conf[events].mean())) <= 1.0 - target:
            return float(threshold)
    return float(grid[-1])


def calibration_compute(
    *,
    snap,
    classes: list[int],
    item_pos: np.ndarray,
    workers: np.ndarray,
    codes: np.ndarray,
    confusion: np.ndarray,
    priors: np.ndarray,
    temperature: float,
    checked: tuple[np.ndarray, np.ndarray],
    labels: np.ndarray,
    target: float,
    min_votes: int,
) -> dict[int | str | None, CalibrationData]:
    """Per key (and PROJECT_KEY for all checked items): would stopping at the target have been right?

    Checked items are gold and reviewed items (their known answer) and audit items at max votes (the consensus of
    all their votes). For each, the posterior of the first n votes is replayed for n = 1, 2, ...: the first prefix
    that reaches the target (with >= 2 and >= min votes) is a stopping event; its claimed confidence against its
    correctness calibrates the target: the lowest threshold whose replayed stops are right often enough. The vote table
    is ImageNet's: accuracy of the first-n-votes consensus for every n."""
    checked_pos, truth = checked
    n_items = snap.items["id"].size
    mask = np.isin(item_pos, checked_pos)
    ip, wk, cd = item_pos[mask], workers[mask], codes[mask]
    votes_per_item = np.bincount(ip, minlength=n_items)[checked_pos]
    voted = votes_per_item > 0
    checked_pos, truth, votes_per_item = checked_pos[voted], truth[voted], votes_per_item[voted]
    if checked_pos.size == 0:
        return {}

    def posteriors(sub: np.ndarray) -> np.ndarray:
        return batch_posteriors(ip[sub], wk[sub], cd[sub], confusion, priors, n_items=n_items, temperature=temperature)[
            checked_pos
        ]

    post = posteriors(np.ones(ip.size, dtype=bool))
    pred = post.argmax(axis=1)
    if snap.project.task_type == Project.TaskType.VERIFY:
        keys = [int(c) if c >= 0 else None for c in snap.items["category"][checked_pos].tolist()]
    else:
        keys = [classes[p] if classes[p] >= 0 else None for p in pred.tolist()]
    ranks = _ranks(ip)
    max_n = int(votes_per_item.max())
    prefix_post = [posteriors(ranks < n) for n in range(1, max_n + 1)]
    stop_conf, stop_label = _stopping_events(prefix_post, votes_per_item, target, min_votes)
    out: dict[int | str | None, CalibrationData] = {}
    key_arr = np.array([-1 if k is None else k for k in keys])
    groups = [(key, key_arr == (-1 if key is None else key)) for key in sorted(set(keys), key=lambda k: k or -1)]
    groups.append((PROJECT_KEY, np.ones(key_arr.size, dtype=bool)))
    for key, sel in groups:
        events = sel & ~np.isnan(stop_conf)
        right = stop_label[events] == truth[events]
        data = CalibrationData(n_checked=int(events.sum()), n_correct=int(right.sum()))
        if data.n_checked:
            data.mean_confidence = float(stop_conf[events].mean())
            data.accuracy = (data.n_correct + 0.5) / (data.n_checked + 1.0)
        if data.n_checked >= CALIBRATION_MIN_CHECKED:
            data.target = _calibrated_target(prefix_post, votes_per_item, truth, sel, target, min_votes)
        for n in range(1, max_n + 1):
            eligible = sel & (votes_per_item >= n)
            m = int(eligible.sum())
            if m == 0:
                break
            hits = int((prefix_post[n - 1][eligible].argmax(axis=1) == truth[eligible]).sum())
            acc = (hits + 0.5) / (m + 1.0)
            data.vote_table.append({"votes": n, "checked": m, "accuracy": round(acc, 4)})
            if data.needed_votes is None and m >= TABLE_MIN_ITEMS and acc >= (data.target or target):
                data.needed_votes = n
        out[key] = data
    return out
