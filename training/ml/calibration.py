"""Gold calibration of a model voter: how much may a classifier's vote move an item's posterior?

The model is summarised by one accuracy on gold (items with known answers it was not trained on), as a
symmetric confusion: with few gold items per class a full K x K matrix with add-one smoothing is mostly
smoothing (10 gold per class cap any model at 11:1 odds, whatever its accuracy). The bound on its vote
(`max_weight`, nats between any two classes, see labeling.algorithms.posterior.posterior_with_extra_voter) is
the log-odds of the *lower* end of the Wilson 95 % interval on that accuracy, capped at `cap`: a model measured
on few gold items may not vote like a sure one. Pure numpy; no Django.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

WILSON_Z = 1.96
MAX_WEIGHT_CAP = math.log(99.0)  # the same cap as training.services.voter: never more than a 99 %-sure voter


@dataclass(frozen=True)
class VoterCalibration:
    accuracy: float  # on gold, add-one smoothed
    accuracy_low: float  # Wilson 95 % lower bound
    checked: int
    confusion: np.ndarray  # (K, K) symmetric
    max_weight: float


def wilson_low(correct: int, n: int, z: float = WILSON_Z) -> float:
    if n == 0:
        return 0.0
    p = correct / n
    centre = p + z * z / (2 * n)
    margin = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, (centre - margin) / (1 + z * z / n))


def calibrate_voter(truth: np.ndarray, predicted: np.ndarray, k: int, cap: float = MAX_WEIGHT_CAP) -> VoterCalibration:
    """Symmetric confusion and vote bound from gold answers `truth` and the model's argmax `predicted`."""
    truth, predicted = np.asarray(truth), np.asarray(predicted)
    n, correct = len(truth), int((truth == predicted).sum())
    acc = (correct + 1) / (n + 2)
    low = wilson_low(correct, n)
    conf = np.full((k, k), (1 - acc) / (k - 1))
    np.fill_diagonal(conf, acc)
    weight = 0.0 if low <= 1.0 / k else math.log(low * (k - 1) / max(1 - low, 1e-12))
    return VoterCalibration(acc, low, n, conf, float(min(max(weight, 0.0), cap)))


def fit_platt(scores: np.ndarray, truth: np.ndarray, l2: float = 1e-2, iters: int = 100) -> tuple[float, float]:
    """P(yes) = sigmoid(a * score + b) fitted to yes/no `truth` (Platt, 1999): Platt's smoothed targets
    ((n+ + 1)/(n+ + 2) for yes, 1/(n- + 2) for no) keep a perfectly separating score finite, a small ridge keeps
    the fit well posed, and Newton steps are halved until the loss goes down."""
    x, y = np.asarray(scores, dtype=np.float64), np.asarray(truth, dtype=np.float64)
    n_pos, n_neg = float(y.sum()), float(y.size - y.sum())
    t = np.where(y > 0.5, (n_pos + 1) / (n_pos + 2), 1 / (n_neg + 2))

    def loss(a: float, b: float) -> float:
        z = a * x + b
        return float(np.sum(np.logaddexp(0, z) - t * z) + 0.5 * l2 * (a * a + b * b))

    a, b = 0.0, float(np.log((n_pos + 1) / (n_neg + 1)))
    current = loss(a, b)
    for _ in range(iters):
        p = 1.0 / (1.0 + np.exp(-np.clip(a * x + b, -500, 500)))
        w = p * (1 - p)
        grad = np.array([np.sum((p - t) * x) + l2 * a, np.sum(p - t) + l2 * b])
        hess = np.array([[np.sum(w * x * x) + l2, np.sum(w * x)], [np.sum(w * x), np.sum(w) + l2]])
        step = np.linalg.solve(hess, grad)
        scale = 1.0
        while scale > 1e-6 and loss(a - scale * step[0], b - scale * step[1]) > current:
            scale /= 2
        a, b = a - scale * step[0], b - scale * step[1]
        new = loss(a, b)
        if current - new < 1e-12:
            break
        current = new
    return float(a), float(b)


def platt_probability(scores: np.ndarray, a: float, b: float) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(a * np.asarray(scores, dtype=np.float64) + b, -500, 500)))


def platt_leave_one_out(scores: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Each checked item's P(yes) from a fit on the *other* checked items: an honest measurement of the
    calibrated voter on the same gold that calibrates it (two parameters, so n fits are cheap)."""
    x, y = np.asarray(scores, dtype=np.float64), np.asarray(truth, dtype=np.float64)
    out = np.empty(x.size)
    for i in range(x.size):
        keep = np.arange(x.size) != i
        out[i] = platt_probability(x[i : i + 1], *fit_platt(x[keep], y[keep]))[0]
    return out
