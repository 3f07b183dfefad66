"""The crowd-level (hierarchical) prior of pooled Dawid-Skene (see pooled_ds.md): confusion rows drawn from a
Dirichlet shared by the crowd, its pseudo-counts re-estimated at every M-step by empirical Bayes (Minka's fixed
point for the Dirichlet-multinomial). Split from pooled_ds.py: this is the M-step; pooled_ds.py chooses, fits
and reports."""

from __future__ import annotations

import numpy as np
from scipy.special import digamma

from .base import CrowdData, expected_counts

STRUCTURES = ("full", "one_coin", "shared", "full_uniform", "one_coin_uniform", "shared_uniform")
ALPHA_FLOOR = 1e-2  # smallest Dirichlet pseudo-count: a (true, given) pair nobody was seen to give stays possible
ALPHA_CEILING = 1e5
HYPER_WORKERS = 1
COUNT_FLOOR = 1e-12
FIXED_POINT_STEPS = 5  # at most this many Minka steps per M-step, warm-started from the previous M-step's alpha
MINKA_TOL = 1e-3  # ... stopping early once no pseudo-count moves by more than this fraction


def hyperprior_row_counts(k: int) -> np.ndarray:
    """Starting alpha, and the model with no checkable vote at all: per true class, one pseudo-vote for the right
    answer and one spread evenly ("the crowd is better than chance"; accuracy (1 + 1/K) / 2)."""
    return np.eye(k) + 1.0 / k


def minka_dirichlet(counts: np.ndarray, alpha: np.ndarray, steps: int) -> np.ndarray:
    """Minka (2000) fixed point for Dirichlet-multinomial parameters, vectorised over rows.

    counts: (W, R, C) per unit w, row r, outcome c (soft counts allowed); alpha: (R, C) start. Rows with no
    counts keep their alpha (no information).
    """
    rows = counts.sum(axis=2)
    for _ in range(steps):
        a0 = alpha.sum(axis=1)
        num = (digamma(counts + alpha) - digamma(alpha)).sum(axis=0)
        den = (digamma(rows + a0) - digamma(a0)).sum(axis=0)
        informed = den > 1e-12
        ratio = np.divide(num, den[:, None], out=np.ones_like(num), where=informed[:, None])
        alpha = np.clip(alpha * ratio, ALPHA_FLOOR, ALPHA_CEILING)
        if np.abs(ratio - 1.0).max() < MINKA_TOL:  # warm-started: late EM iterations need one step
            break
    return alpha


class HierarchicalMStep:
    """M-step of DS under a crowd-level Dirichlet prior; keeps the last counts and alpha for the caller."""

    def __init__(self, structure: str, checkable: np.ndarray, steps: int = FIXED_POINT_STEPS) -> None:
        if structure not in STRUCTURES:
            raise ValueError(f"structure must be one of {STRUCTURES}, got {structure!r}")
        self.name = structure
        self.steps = steps
        self.uniform_priors = structure.endswith("_uniform")
        self.structure = structure.removesuffix("_uniform")
        self.checkable = checkable[:, None]  # (n_items, 1) 1.0 where the item has >= 2 votes or gold
        self.alpha: np.ndarray | None = None
        self.counts = np.zeros((0, 0, 0))
        self.weighted_posteriors = np.zeros((0, 0))

    def _shaped(self, counts: np.ndarray) -> np.ndarray:
        """Counts in the prior's layout: full (W, K, K); one_coin (W, 1, 2) = (right, wrong)."""
        if self.structure == "full":
            return counts
        right = np.trace(counts, axis1=1, axis2=2)
        shaped = np.stack([right, counts.sum(axis=(1, 2)) - right], axis=1)[:, None, :]
        return shaped if self.structure == "one_coin" else shaped.sum(axis=0, keepdims=True)

    @property
    def shared(self) -> bool:
        return self.structure.startswith("shared")

    def __call__(self, data: CrowdData, posteriors: np.ndarray) -> np.ndarray:
        weighted = posteriors * self.checkable
        self.weighted_posteriors = weighted
        counts = expected_counts(data, weighted)
        counts[counts < COUNT_FLOOR] = 0.0  # flush underflowed (denormal) counts: they slow digamma ~10x
        shaped = self._shaped(counts)
        if self.alpha is None:
            hyper = hyperprior_row_counts(data.n_classes)
            start = hyper if self.structure == "full" else self._shaped(hyper[None])[0]
            self.alpha = np.maximum(start, ALPHA_FLOOR)  # K = 1 has no wrong answer: keep every pseudo-count > 0
        if not self.shared:  # one shared accuracy: the hyperprior alone (one unit has no spread)
            # The hyperprior worker joins the crowd as HYPER_WORKERS virtual workers: negligible in a crowd of
            # hundreds, decisive with two workers and three votes (where ML alone can call everyone a flipper).
            hyper = hyperprior_row_counts(data.n_classes)[None]
            virtual = np.repeat(hyper if self.structure == "full" else self._shaped(hyper), HYPER_WORKERS, axis=0)
            self.alpha = minka_dirichlet(np.concatenate([shaped, virtual]), self.alpha, self.steps)
        self.counts = counts
        mean = (shaped + self.alpha) / (shaped.sum(axis=2, keepdims=True) + self.alpha.sum(axis=1)[:, None])
        confusion = self._confusion(mean, data.n_classes)
        return confusion if not self.shared else np.repeat(confusion, data.n_workers, axis=0)

    def _confusion(self, mean: np.ndarray, k: int) -> np.ndarray:
        if self.structure == "full":
            return mean
        p = mean[:, 0, 0]
        off = (1.0 - p) / max(k - 1, 1)
        eye = np.eye(k)
        return p[:, None, None] * eye + off[:, None, None] * (1.0 - eye)

    def pooled(self, k: int) -> np.ndarray:
        """The crowd's confusion: the prior mean, what a worker without checkable votes is assumed to be."""
        assert self.alpha is not None
        if self.shared:
            shaped = self._shaped(self.counts)
            return self._confusion((shaped + self.alpha) / (shaped.sum(axis=2, keepdims=True) + self.alpha.sum()), k)[0]
        return self._confusion((self.alpha / self.alpha.sum(axis=1, keepdims=True))[None], k)[0]

    def held_out(self, workers: np.ndarray, labels: np.ndarray, posts: np.ndarray) -> np.ndarray:
        """(n, K): P(worker gives label | true class k) from its matrix refitted without that vote, whose
        weights in the counts were `posts`."""
        assert self.alpha is not None
        k = posts.shape[1]
        if self.structure == "full":
            cell = np.maximum(self.counts[workers, :, labels] - posts, 0.0) + self.alpha[:, labels].T
            row = np.maximum(self.counts.sum(axis=2)[workers] - posts, 0.0) + self.alpha.sum(axis=1)
            return cell / row
        per_worker = np.trace(self.counts, axis1=1, axis2=2), self.counts.sum(axis=(1, 2))
        if self.structure == "one_coin":
            right, total = per_worker[0][workers], per_worker[1][workers]
        else:
            right, total = np.full(labels.size, per_worker[0].sum()), np.full(labels.size, per_worker[1].sum())
        right = right - posts[np.arange(labels.size), labels]
        total = total - posts.sum(axis=1)
        a, b = self.alpha[0]
        p = (np.maximum(right, 0.0) + a) / (np.maximum(total, 0.0) + a + b)
        lik = np.repeat(((1.0 - p) / max(k - 1, 1))[:, None], k, axis=1)
        lik[np.arange(labels.size), labels] = p
        return lik
