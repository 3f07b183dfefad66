"""Per-category calibration of the confidence estimate against checked (gold / reviewed) items (see quality.md).

For the checked items the posterior is recomputed from their votes *without* clamping (the full aggregation
clamps them to their known answer, which would make the check circular), with the final worker models. Per key
(verify: the item's category; classify: the predicted category) we record how often the predicted label was
right, the mean claimed confidence, the corrected target, and ImageNet's per-synset vote table: accuracy of the
consensus of the first n votes, for n = 1..max votes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from labeling.algorithms.posterior import batch_posteriors
from labeling.models import Project
from labeling.services.quality.engine import CALIBRATION_MIN_CHECKED, calibrated_target

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


def calibration_compute(
    *,
    snap,
    classes: list[int],
    item_pos: np.ndarray,
    workers: np.ndarray,
    codes: np.ndarray,
    confusion: np.ndarray,
    priors: np.ndarray,
    clamp: tuple[np.ndarray, np.ndarray],
    labels: np.ndarray,
    target: float,
) -> dict[int | None, CalibrationData]:
    checked, truth = clamp
    n_items = snap.items["id"].size
    mask = np.isin(item_pos, checked)
    ip, wk, cd = item_pos[mask], workers[mask], codes[mask]
    votes_per_item = np.bincount(ip, minlength=n_items)[checked]
    voted = votes_per_item > 0
    checked, truth, votes_per_item = checked[voted], truth[voted], votes_per_item[voted]
    if checked.size == 0:
        return {}
    post = batch_posteriors(ip, wk, cd, confusion, priors, n_items=n_items)[checked]
    pred = post.argmax(axis=1)
    if snap.project.task_type == Project.TaskType.VERIFY:
        keys = [int(c) if c >= 0 else None for c in snap.items["category"][checked].tolist()]
    else:
        keys = [classes[p] if classes[p] >= 0 else None for p in pred.tolist()]
    ranks = _ranks(ip)
    max_n = int(votes_per_item.max())
    prefix_pred = []
    for n in range(1, max_n + 1):
        sub = ranks < n
        prefix_pred.append(
            batch_posteriors(ip[sub], wk[sub], cd[sub], confusion, priors, n_items=n_items)[checked].argmax(axis=1)
        )
    out: dict[int | None, CalibrationData] = {}
    key_arr = np.array([-1 if k is None else k for k in keys])
    for key in sorted(set(keys), key=lambda k: -1 if k is None else k):
        sel = key_arr == (-1 if key is None else key)
        correct = pred[sel] == truth[sel]
        data = CalibrationData(n_checked=int(sel.sum()), n_correct=int(correct.sum()))
        data.mean_confidence = float(post[sel].max(axis=1).mean())
        data.accuracy = (data.n_correct + 0.5) / (data.n_checked + 1.0)
        if data.n_checked >= CALIBRATION_MIN_CHECKED:
            data.target = calibrated_target(target, data.mean_confidence, data.accuracy)
        for n in range(1, max_n + 1):
            eligible = sel & (votes_per_item >= n)
            m = int(eligible.sum())
            if m == 0:
                break
            right = int((prefix_pred[n - 1][eligible] == truth[eligible]).sum())
            acc = (right + 0.5) / (m + 1.0)
            data.vote_table.append({"votes": n, "checked": m, "accuracy": round(acc, 4)})
            if data.needed_votes is None and m >= TABLE_MIN_ITEMS and acc >= (data.target or target):
                data.needed_votes = n
        out[key] = data
    return out
