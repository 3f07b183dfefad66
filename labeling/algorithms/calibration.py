"""Calibration of item posteriors: expected calibration error and an unsupervised temperature (see calibration.md).

Pure numpy, no Django. Two tools:

* `expected_calibration_error`: the standard ECE of the top-class confidence (Naeini et al. 2015; Guo et al.
  2017), equal-width bins ((m-1)/M, m/M]; it needs true labels, so it is for benchmarks and gold audits.
* `vote_temperature`: the exponent tau in (0, 1] on the summed worker log-likelihoods that best predicts each
  vote from the *other* votes of its item (leave-one-vote-out predictive log-likelihood). No gold needed: the
  held-out votes play the part of labels. tau < 1 says the votes are less independent, or the worker models
  less exact, than plain Bayes assumes, so each extra vote must move the posterior less.
"""

from __future__ import annotations

import numpy as np

PROB_FLOOR = 1e-10  # the aggregation E-step's floor
# Candidate temperatures, fine near 1 (the usual answer) and coarse towards strong tempering.
TEMPERATURE_GRID = np.concatenate([np.geomspace(0.05, 0.5, 11)[:-1], np.linspace(0.5, 1.0, 21)])


def expected_calibration_error(posteriors: np.ndarray, true_labels: np.ndarray, n_bins: int = 15) -> float:
    """ECE = sum over confidence bins of |accuracy - mean confidence| weighted by the bin's share of items.

    posteriors: (n, K) rows summing to 1; true_labels: (n,) int. Confidence = the top posterior, prediction =
    its class (ties -> lowest index). Bins are equal-width ((m-1)/M, m/M], m = 1..M; an empty input gives 0.
    """
    p = np.asarray(posteriors, dtype=np.float64)
    y = np.asarray(true_labels, dtype=np.int64)
    if p.ndim != 2 or y.shape != (p.shape[0],):
        raise ValueError(f"need posteriors (n, K) and true_labels (n,), got {p.shape} and {y.shape}")
    if n_bins < 1:
        raise ValueError(f"n_bins must be >= 1, got {n_bins}")
    if y.size == 0:
        return 0.0
    confidence = p.max(axis=1)
    correct = (p.argmax(axis=1) == y).astype(np.float64)
    bins = np.clip(np.ceil(confidence * n_bins).astype(np.int64) - 1, 0, n_bins - 1)
    gap = np.bincount(bins, weights=correct - confidence, minlength=n_bins)
    return float(np.abs(gap).sum() / y.size)


def tempered_softmax(log_lik: np.ndarray, log_priors: np.ndarray, temperature: float) -> np.ndarray:
    """Rows of softmax(log_priors + temperature * log_lik): posteriors with tempered worker evidence."""
    joint = log_lik * temperature if temperature != 1.0 else log_lik.copy()
    joint += log_priors
    joint -= joint.max(axis=1, keepdims=True)
    np.exp(joint, out=joint)
    joint /= joint.sum(axis=1, keepdims=True)
    return joint


def vote_temperature(
    rest_log_lik: np.ndarray,
    held_out_lik: np.ndarray,
    log_priors: np.ndarray,
    grid: np.ndarray = TEMPERATURE_GRID,
) -> float:
    """Temperature in (0, 1] maximising the leave-one-vote-out predictive log-likelihood.

    rest_log_lik: (n, K) summed log-likelihood of the *other* votes of each held-out vote's item, per true class.
    held_out_lik: (n, K) probability that the held-out vote's worker gives the held-out label, per true class
                  (ideally from a confusion matrix fitted without that vote).
    log_priors:   (K,) log class priors.
    Score(tau) = sum over votes of log sum_k softmax(log prior + tau * rest)[k] * held_out_lik[k]. Ties go to the
    largest tau (plain Bayes); no votes -> 1.0.
    """
    rest = np.asarray(rest_log_lik, dtype=np.float64)
    lik = np.maximum(np.asarray(held_out_lik, dtype=np.float64), PROB_FLOOR)
    if rest.shape[0] == 0:
        return 1.0
    scores = np.array([np.log((tempered_softmax(rest, log_priors, float(t)) * lik).sum(axis=1)).sum() for t in grid])
    best = np.flatnonzero(scores >= scores.max() - 1e-9 * max(1.0, abs(scores.max())))
    return float(np.clip(grid[best].max(), grid.min(), 1.0))
