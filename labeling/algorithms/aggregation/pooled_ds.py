"""Dawid-Skene with a pooled (hierarchical) Dirichlet prior on the confusion matrices (see pooled_ds.md).

Each worker's confusion row k is the posterior mean under Dirichlet(strength * pooled[k]) pseudo-counts, where
`pooled` is the whole crowd's confusion, re-estimated at every M-step: a worker with few votes looks like the
crowd, one with many votes like itself. `strength` (pseudo-votes per row) is chosen at every M-step by empirical
Bayes, maximising the Dirichlet-multinomial marginal likelihood of the workers' expected counts (type-II maximum
likelihood), so nothing is tuned by hand. After EM:

* the item posteriors are tempered by tau in (0, 1] fitted on leave-one-vote-out predictions (../calibration.py);
* each worker's accuracy is a Beta posterior: expected-correct counts of its votes judged by the *other* votes of
  the item (or gold), plus the pooled accuracy as prior pseudo-votes; `worker_evidence` counts those votes.
"""

from __future__ import annotations

import numpy as np
from scipy.special import gammaln

from ..calibration import tempered_softmax, vote_temperature
from ..intervals import beta_interval
from .base import (
    PROB_FLOOR,
    AggregationResult,
    CrowdData,
    clamp_gold,
    expected_counts,
    fill_unlabelled,
    normalise_rows,
    row_argmax,
)
from .dawid_skene import DEFAULT_MAX_ITER, DEFAULT_TOL, run_em

# Candidate prior strengths, in pseudo-votes per confusion row, spaced by a factor sqrt(2).
STRENGTH_GRID = np.geomspace(0.25, 4096.0, 29)
POOL_SMOOTHING = 0.5  # add-1/2 on the crowd's summed counts: keeps every pooled cell > 0 on tiny data
TEMPERATURE_VOTES = 200_000  # the temperature is fitted on at most this many held-out votes (deterministic subset)


def log_evidence(counts: np.ndarray, pooled: np.ndarray, strength: float) -> float:
    """log p(counts | Dirichlet(strength * pooled) per row), summed over workers and rows (Dirichlet-multinomial,
    without the multinomial coefficient, which does not depend on the prior)."""
    alpha = strength * pooled
    rows = counts.sum(axis=2)
    return float(
        (gammaln(strength) - gammaln(rows + strength)).sum() + (gammaln(counts + alpha) - gammaln(alpha)).sum()
    )


class PooledMStep:
    """M-step with the pooled prior; remembers the last counts, pooled confusion and strength it used."""

    def __init__(self, strength: float | None, grid: np.ndarray = STRENGTH_GRID) -> None:
        self.fixed = strength
        self.grid = grid
        self.index: int | None = None
        self.strength = float(strength) if strength is not None else float("nan")
        self.counts = np.zeros((0, 0, 0))
        self.pooled = np.zeros((0, 0))

    def _select(self, counts: np.ndarray, pooled: np.ndarray) -> float:
        """Type-II ML strength: a full grid scan the first time, then hill-climbing from the last choice
        (the evidence is unimodal in log strength in practice and moves little between EM iterations)."""
        score = {}

        def at(i: int) -> float:
            if i not in score:
                score[i] = log_evidence(counts, pooled, float(self.grid[i]))
            return score[i]

        if self.index is None:
            self.index = int(np.argmax([at(i) for i in range(self.grid.size)]))
        while True:
            i = self.index
            up = at(i + 1) if i + 1 < self.grid.size else -np.inf
            down = at(i - 1) if i > 0 else -np.inf
            if up > at(i) and up >= down:
                self.index = i + 1
            elif down > at(i):
                self.index = i - 1
            else:
                return float(self.grid[i])

    def __call__(self, data: CrowdData, posteriors: np.ndarray) -> np.ndarray:
        counts = expected_counts(data, posteriors)
        pooled = normalise_rows(counts.sum(axis=0), POOL_SMOOTHING)
        strength = self.fixed if self.fixed is not None else self._select(counts, pooled)
        self.counts, self.pooled, self.strength = counts, pooled, float(strength)
        return (counts + strength * pooled) / (counts.sum(axis=2, keepdims=True) + strength)


def _vote_log_lik(data: CrowdData, confusion: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-vote log conf[w, :, l] (n_votes, K) and its sum per item (n_items, K)."""
    k = data.n_classes
    log_conf = np.log(np.maximum(confusion, PROB_FLOOR))
    by_vote = log_conf.transpose(0, 2, 1).reshape(data.n_workers * k, k)
    return by_vote[data.workers * k + data.labels], data.design @ by_vote


def pooled_dawid_skene(
    data: CrowdData,
    *,
    max_iter: int = DEFAULT_MAX_ITER,
    tol: float = DEFAULT_TOL,
    strength: float | None = None,
    calibrate: bool = True,
    init: str = "soft",
) -> AggregationResult:
    """Dawid-Skene with a pooled Dirichlet prior, an unsupervised temperature and worker accuracy intervals.

    strength: pseudo-votes per confusion row (None = empirical Bayes at every M-step); calibrate: fit the
    posterior temperature (False -> 1.0); init: "soft" or "hard" majority-vote start.
    """
    m_step = PooledMStep(strength)
    posteriors, confusion, priors, iterations = run_em(data, m_step, max_iter=max_iter, tol=tol, init=init)
    counts, pooled, s = m_step.counts, m_step.pooled, m_step.strength
    k = data.n_classes
    log_priors = np.log(np.maximum(priors, PROB_FLOOR))
    per_vote, summed = _vote_log_lik(data, confusion)

    # Held-out votes: on items with another vote and no gold (gold posteriors are clamped, not inferred).
    votes_per_item = np.bincount(data.items, minlength=data.n_items)
    is_gold = np.zeros(data.n_items, dtype=bool)
    is_gold[data.gold_items] = True
    shared = votes_per_item[data.items] >= 2
    inferred = np.flatnonzero(shared & ~is_gold[data.items])
    rest = summed[data.items[inferred]] - per_vote[inferred]

    temperature = 1.0
    if calibrate and inferred.size:
        pick = inferred
        sub = np.arange(inferred.size)
        if inferred.size > TEMPERATURE_VOTES:
            sub = np.sort(np.random.default_rng(0).choice(inferred.size, TEMPERATURE_VOTES, replace=False))
            pick = inferred[sub]
        # The held-out vote's likelihood from its worker's matrix refitted without it (its expected count removed).
        w, lab, post = data.workers[pick], data.labels[pick], posteriors[data.items[pick]]
        cell = counts[w, :, lab] - post
        row = counts[w].sum(axis=2) - post
        held_out = (np.maximum(cell, 0.0) + s * pooled[:, lab].T) / (np.maximum(row, 0.0) + s)
        temperature = vote_temperature(rest[sub], held_out, log_priors)

    # Final posteriors: one tempered E-step with the final (shrunk) matrices.
    posteriors = tempered_softmax(summed, log_priors, temperature)
    posteriors = fill_unlabelled(data, clamp_gold(data, posteriors), priors)

    # Worker accuracy: P(vote right) judged by the item's other votes (or its gold), + pooled prior pseudo-votes.
    judged = shared | is_gold[data.items]
    right = np.zeros(data.n_votes)
    if inferred.size:
        right[inferred] = tempered_softmax(rest, log_priors, temperature)[
            np.arange(inferred.size), data.labels[inferred]
        ]
    gold_votes = np.flatnonzero(is_gold[data.items])
    right[gold_votes] = posteriors[data.items[gold_votes], data.labels[gold_votes]]
    evidence = np.bincount(data.workers, weights=judged.astype(np.float64), minlength=data.n_workers)
    correct = np.bincount(data.workers, weights=right * judged, minlength=data.n_workers)
    pooled_accuracy = float(priors @ np.diagonal(pooled))
    prior_votes = s / max(float(priors @ priors), 1.0 / k)  # the per-row prior, as pseudo-votes on accuracy
    skill = (correct + prior_votes * pooled_accuracy) / (evidence + prior_votes)
    low, high = beta_interval(skill, evidence + prior_votes)

    return AggregationResult(
        posteriors=posteriors,
        labels=row_argmax(posteriors),
        worker_confusion=confusion,
        worker_skill=skill,
        class_priors=priors,
        iterations=iterations,
        pooled_confusion=pooled,
        worker_skill_interval=np.stack([low, high], axis=1),
        worker_evidence=evidence,
        temperature=temperature,
    )
