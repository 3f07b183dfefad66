"""Vote-counting aggregators: majority vote, weighted majority vote and Wawa (see majority.md).

They have no worker model of their own; the confusion matrices they report are measured against their own
answers (Laplace add-one smoothed) so that callers get the same shape of result from every method.
"""

from __future__ import annotations

import numpy as np

from .base import (
    AggregationResult,
    CrowdData,
    clamp_gold,
    estimate_priors,
    expected_counts,
    finish,
    normalise_rows,
    soft_majority,
)

# Add-one smoothing for the *reported* confusion of methods that do not estimate one.
REPORT_SMOOTHING = 1.0
# The vote counters take `max_iter` and `tol` only so that every entry of METHODS accepts the same call.


def _weighted(data: CrowdData, worker_weights: np.ndarray | None) -> AggregationResult:
    vote_weights = None if worker_weights is None else worker_weights[data.workers]
    # Equal counts (or equal weighted sums) divided by the same row total are bitwise equal, so argmax's
    # first-maximum rule gives the documented tie-break: lowest class index.
    posteriors = clamp_gold(data, soft_majority(data, vote_weights))
    if worker_weights is not None:
        # Items whose only voters carry zero weight have no evidence: treat them like unlabelled items.
        no_weight = posteriors.sum(axis=1) == 0
        posteriors[no_weight & data.labelled] = estimate_priors(data, posteriors)
    priors = estimate_priors(data, posteriors)
    confusion = normalise_rows(expected_counts(data, posteriors), REPORT_SMOOTHING)
    return finish(data, posteriors, priors=priors, confusion=confusion, iterations=0)


def majority_vote(data: CrowdData, *, max_iter: int = 0, tol: float = 0.0) -> AggregationResult:
    """Plain majority vote; posteriors are vote shares, ties go to the lowest label index."""
    return _weighted(data, None)


def weighted_majority_vote(data: CrowdData, *, max_iter: int = 0, tol: float = 0.0) -> AggregationResult:
    """Majority vote with the caller's non-negative per-worker weights (`worker_weights`)."""
    if data.worker_weights is None:
        raise ValueError("method 'wmv' needs worker_weights (one non-negative weight per worker)")
    return _weighted(data, data.worker_weights)


def wawa(data: CrowdData, *, max_iter: int = 0, tol: float = 0.0) -> AggregationResult:
    """Worker Agreement With Aggregate: weight each worker by their agreement rate with majority vote."""
    mv_labels = majority_vote(data).labels
    agree = np.bincount(
        data.workers, weights=(data.labels == mv_labels[data.items]).astype(np.float64), minlength=data.n_workers
    )
    n_votes = data.votes_per_worker()
    weights = np.divide(agree, n_votes, out=np.zeros_like(agree), where=n_votes > 0)
    result = _weighted(data, weights)
    return AggregationResult(
        posteriors=result.posteriors,
        labels=result.labels,
        worker_confusion=result.worker_confusion,
        worker_skill=weights,
        class_priors=result.class_priors,
        iterations=1,
    )
