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
