"""Inter-annotator agreement and a budget forecast, over an (items x classes) vote-count matrix (see agreement.md).

* `vote_distribution`: votes -> counts[item, class].
* `fleiss_kappa` (Fleiss 1971), generalised to a variable number of raters per item: per-item agreement is the
  share of agreeing rater pairs, averaged over items with >= 2 raters; chance agreement uses the pooled class
  shares of those items. With a constant number of raters this is exactly Fleiss' formula.
* `krippendorff_alpha_nominal` (Krippendorff 2004/2011): the coincidence-matrix form, which handles missing
  values and any number of raters natively; preferred when rater counts vary.
* `expected_extra_votes`: how many more votes each item needs, on average, to reach a target posterior.
"""

from __future__ import annotations

import math

import numpy as np


def vote_distribution(
    items: np.ndarray, labels: np.ndarray, *, n_items: int | None = None, n_classes: int | None = None
) -> np.ndarray:
    """counts[i, k] = number of votes for class k on item i (int64)."""
    it = np.asarray(items, dtype=np.int64)
    lb = np.asarray(labels, dtype=np.int64)
    n = int(n_items) if n_items is not None else (int(it.max()) + 1 if it.size else 0)
    k = int(n_classes) if n_classes is not None else (int(lb.max()) + 1 if lb.size else 0)
    return np.bincount(it * k + lb, minlength=n * k).reshape(n, k).astype(np.int64)


def item_agreement(counts: np.ndarray) -> np.ndarray:
    """Share of agreeing rater pairs per item, sum_k n_k (n_k - 1) / (n (n - 1)); NaN below 2 raters."""
    c = np.asarray(counts, dtype=np.float64)
    n = c.sum(axis=1)
    pairs = n * (n - 1)
    return np.divide((c * (c - 1)).sum(axis=1), pairs, out=np.full(n.shape, np.nan), where=pairs > 0)


def percent_agreement(counts: np.ndarray) -> float:
    """Mean share of agreeing rater pairs over items with >= 2 raters (the observed agreement of Fleiss' kappa);
    NaN when no item has 2 raters. Reported beside kappa and alpha: when one class dominates (a verify category
    whose candidates are nearly all positive), chance agreement is close to 1 and kappa/alpha are low or 0
    even when nearly every pair agrees -- the prevalence paradox (Feinstein & Cicchetti 1990), not a bug."""
    c = np.asarray(counts, dtype=np.float64)
    rated = c.sum(axis=1) >= 2
    return float(item_agreement(c[rated]).mean()) if rated.any() else math.nan


def fleiss_kappa(counts: np.ndarray) -> float:
    """Fleiss' kappa; items with fewer than 2 raters carry no pair and are ignored. NaN when undefined."""
    c = np.asarray(counts, dtype=np.float64)
    rated = c.sum(axis=1) >= 2
    if not rated.any():
        return math.nan
    c = c[rated]
    observed = float(item_agreement(c).mean())
    shares = c.sum(axis=0) / c.sum()
    chance = float((shares**2).sum())
    if chance >= 1.0:  # everyone used one class: agreement is perfect but kappa is 0/0
        return math.nan
    return (observed - chance) / (1.0 - chance)


def krippendorff_alpha_nominal(counts: np.ndarray) -> float:
    """Krippendorff's alpha for nominal data from counts[unit, value]; units with < 2 values are not pairable.

    Coincidences o[c, k] = sum_u n_uc (n_uk - [c == k]) / (m_u - 1); alpha = 1 - (n - 1) D_o / D_e with
    D_o = sum_{c != k} o[c, k] and D_e = sum_{c != k} n_c n_k, n_c the coincidence marginals.
    """
    c = np.asarray(counts, dtype=np.float64)
    m = c.sum(axis=1)
    c, m = c[m >= 2], m[m >= 2]
    if c.size == 0:
        return math.nan
    scaled = c / (m - 1)[:, None]
    coincidence = scaled.T @ c - np.diag(scaled.sum(axis=0))
    marginals = coincidence.sum(axis=1)
    n = marginals.sum()
    disagree_observed = coincidence.sum() - np.trace(coincidence)
    disagree_expected = n * n - float((marginals**2).sum())
    if disagree_expected <= 0:
        return math.nan
    return 1.0 - (n - 1) * disagree_observed / disagree_expected


def expected_extra_votes(
    posteriors: np.ndarray, target: float, worker_accuracy: float, *, max_votes: int = 50
) -> np.ndarray:
    """Expected number of further votes until each item's top posterior reaches `target` (int64, capped).

    Simple model, documented in agreement.md: new votes come from workers of accuracy a whose errors spread
    evenly over the other K-1 classes, so each vote moves the log-odds of the true class against its strongest
    rival by +s (a vote for the truth, probability a) or -s (a vote for that rival, probability (1-a)/(K-1)),
    s = log(a (K-1) / (1-a)): a drift of d = (a - (1-a)/(K-1)) s per vote. With probability p (the top posterior)
    the leader is the truth and sits at logit(p); otherwise the truth sits at about -logit(p). By Wald's identity
    the expected number of votes is then (logit(target) - (2p - 1) logit(p)) / d, rounded up. Items already at
    the target need 0; when d <= 0 (workers no better than chance) or more are needed, the answer is max_votes.
    """
    post = np.atleast_2d(np.asarray(posteriors, dtype=np.float64))
    k = max(post.shape[1], 2)
    a = float(np.clip(worker_accuracy, 1e-6, 1 - 1e-6))
    t = float(np.clip(target, 1e-6, 1 - 1e-6))
    p = np.clip(post.max(axis=1), 1e-12, 1 - 1e-12)
    step = math.log(a * (k - 1) / (1 - a))
    drift = (a - (1 - a) / (k - 1)) * step
    if drift <= 0:
        return np.where(p >= t, 0, max_votes).astype(np.int64)
    logit_p = np.log(p / (1 - p))
    needed = np.ceil((math.log(t / (1 - t)) - (2 * p - 1) * logit_p) / drift)
    needed = np.where(p >= t, 0.0, np.maximum(needed, 1.0))
    return np.minimum(needed, max_votes).astype(np.int64)
