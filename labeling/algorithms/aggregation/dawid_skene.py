"""Dawid-Skene EM with full per-worker confusion matrices, and its one-coin special case (see dawid_skene.md).

Both start from the majority-vote posteriors (vote shares), clamp gold items to their known answer at every
step (semi-supervised EM), Laplace-smooth the confusion counts (MAP estimate under a symmetric Dirichlet prior,
which keeps rarely seen (true, given) cells away from zero) and stop when the per-vote log-likelihood gains less
than `tol` or after `max_iter` E-steps.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .base import (
    AggregationResult,
    CrowdData,
    clamp_gold,
    e_step,
    estimate_priors,
    expected_counts,
    finish,
    normalise_rows,
    soft_majority,
)

DEFAULT_MAX_ITER = 100
DEFAULT_TOL = 1e-5  # per-vote log-likelihood gain; the same threshold and scale as crowd-kit's DawidSkene

MStep = Callable[[CrowdData, np.ndarray], np.ndarray]


def initial_posteriors(data: CrowdData, init: str = "soft") -> np.ndarray:
    """'soft': majority-vote shares; 'hard': one-hot majority vote (ties -> lowest index)."""
    shares = soft_majority(data)
    if init == "hard":
        hard = np.zeros_like(shares)
        hard[np.arange(data.n_items), shares.argmax(axis=1)] = 1.0
        shares = np.where(data.labelled[:, None], hard, 0.0)
    elif init != "soft":
        raise ValueError(f"init must be 'soft' or 'hard', got {init!r}")
    return clamp_gold(data, shares)


def run_em(
    data: CrowdData, m_step: MStep, *, max_iter: int, tol: float, init: str = "soft", prior_smoothing: float = 0.0
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Generic EM loop over a confusion-matrix model. Returns posteriors, confusion, priors, iterations.

    `m_step(data, posteriors)` maps posteriors to (n_workers, K, K) confusion matrices (rows = true class).
    The loop is M-step then E-step, so `iterations` counts E-steps after the majority-vote start.
    """
    posteriors = initial_posteriors(data, init)
    previous = -np.inf
    iterations = 0
    priors = estimate_priors(data, posteriors, prior_smoothing)
    confusion = gold_informed(data, m_step, m_step(data, posteriors))
    for iterations in range(1, max_iter + 1):  # noqa: B007 - the final value is reported
        posteriors, log_likelihood = e_step(data, confusion, priors)
        priors = estimate_priors(data, posteriors, prior_smoothing)
        confusion = m_step(data, posteriors)
        # Per-vote scale keeps `tol` meaningful from ten votes to ten million.
        if abs(log_likelihood - previous) <= tol * max(data.n_votes, 1):
            break
        previous = log_likelihood
    return posteriors, confusion, priors, iterations


def gold_informed(data: CrowdData, m_step: MStep, confusion: np.ndarray) -> np.ndarray:
    """Initial confusion of workers who answered gold items, measured on those items alone.

    Starting every worker from majority vote lets a wrong majority win even with plenty of gold (EM stays in
    the basin it starts in); a worker's record on known answers is the better first guess. Workers without
    gold votes keep their majority-vote start.
    """
    if not data.gold_items.size:
        return confusion
    gold_only = np.zeros((data.n_items, data.n_classes))
    gold_only[data.gold_items, data.gold_labels] = 1.0
    has_gold = np.bincount(data.workers, weights=gold_only[data.items].sum(axis=1), minlength=data.n_workers) > 0
    confusion = confusion.copy()
    confusion[has_gold] = m_step(data, gold_only)[has_gold]
    return confusion


def full_confusion_m_step(smoothing: float) -> MStep:
    def m_step(data: CrowdData, posteriors: np.ndarray) -> np.ndarray:
        return normalise_rows(expected_counts(data, posteriors), smoothing)

    return m_step


def one_coin_m_step(smoothing: float) -> MStep:
    """One accuracy p_w per worker; errors spread evenly: conf = p on the diagonal, (1-p)/(K-1) elsewhere."""

    def m_step(data: CrowdData, posteriors: np.ndarray) -> np.ndarray:
        k = data.n_classes
        counts = expected_counts(data, posteriors)
        correct = np.trace(counts, axis1=1, axis2=2)
        total = counts.sum(axis=(1, 2))
        # Beta(1 + s, 1 + s) MAP estimate; a worker without votes sits at 1/2 (binary) — uninformative.
        p = (correct + smoothing) / (total + 2.0 * smoothing) if smoothing > 0 else correct / np.maximum(total, 1e-300)
        p = np.clip(p, 1e-6, 1.0 - 1e-6)
        off = (1.0 - p) / max(k - 1, 1)
        confusion = np.repeat(off[:, None, None], k, axis=1).repeat(k, axis=2)
        idx = np.arange(k)
        confusion[:, idx, idx] = p[:, None]
        return confusion

    return m_step


def dawid_skene(
    data: CrowdData,
    *,
    max_iter: int = DEFAULT_MAX_ITER,
    tol: float = DEFAULT_TOL,
    smoothing: float = 0.5,
    init: str = "soft",
    prior_smoothing: float = 0.0,
) -> AggregationResult:
    """Dawid & Skene (1979) with full confusion matrices.

    smoothing: pseudo-count added to every confusion cell (0.5 chosen on the benchmark sets, see dawid_skene.md);
    init: "soft" (vote shares) or "hard" (one-hot majority vote); prior_smoothing: pseudo-count per class prior.
    """
    posteriors, confusion, priors, iterations = run_em(
        data, full_confusion_m_step(smoothing), max_iter=max_iter, tol=tol, init=init, prior_smoothing=prior_smoothing
    )
    return finish(data, posteriors, priors=priors, confusion=confusion, iterations=iterations)


def one_coin_ds(
    data: CrowdData,
    *,
    max_iter: int = DEFAULT_MAX_ITER,
    tol: float = DEFAULT_TOL,
    smoothing: float = 1.0,
    init: str = "soft",
) -> AggregationResult:
    """One-coin Dawid-Skene: each worker is a single accuracy, errors uniform over the other classes."""
    posteriors, confusion, priors, iterations = run_em(
        data, one_coin_m_step(smoothing), max_iter=max_iter, tol=tol, init=init
    )
    skill = np.diagonal(confusion, axis1=1, axis2=2)[:, 0].copy()
    return finish(data, posteriors, priors=priors, confusion=confusion, skill=skill, iterations=iterations)
