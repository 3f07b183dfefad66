"""Shared plumbing for the label-aggregation methods: input validation, the sparse design matrix, the
Dawid-Skene-style E-step and its sufficient statistics, and the result type.

Every method here that models workers does so with a (possibly structured) confusion matrix per worker:
full (Dawid-Skene), one number (one-coin DS) or "knows / spams" (MACE). They all share one E-step and one set
of sufficient statistics, so those live here once, vectorised over a sparse (item x worker*label) count matrix:

* E-step:  log p(z_i = k | votes) = log prior_k + sum over votes (w, l) of log conf[w, k, l]
           = (design @ log_conf laid out as (worker*label, true class))[i, k] + log prior_k
* M-step statistics: counts[w, k, l] = sum over votes (w, l) of p(z_i = k) = (design.T @ posteriors) reshaped.

Both are one sparse-dense product each (scipy, single-threaded, hence deterministic), so a million votes take
a few tens of milliseconds per EM iteration and there is no Python loop over items or workers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

# Floor for probabilities before taking logs: a zero cell (an unseen (true, given) pair without smoothing)
# must not produce -inf, which would make a whole row NaN after normalisation.
PROB_FLOOR = 1e-10


@dataclass(frozen=True)
class AggregationResult:
    """What every aggregation method returns."""

    posteriors: np.ndarray  # (n_items, n_classes) float64, rows sum to 1
    labels: np.ndarray  # (n_items,) int64, argmax of posteriors, ties -> lowest class index
    worker_confusion: np.ndarray | None  # (n_workers, n_classes, n_classes): row = true class, col = given label
    worker_skill: np.ndarray  # (n_workers,) estimated accuracy in [0, 1]
    class_priors: np.ndarray  # (n_classes,)
    iterations: int
    # Optional, for methods that model a population of workers (the pooled Dawid-Skene default); other methods
    # leave the defaults.
    pooled_confusion: np.ndarray | None = None  # (K, K) the crowd's average confusion: what a new worker is assumed
    worker_skill_interval: np.ndarray | None = None  # (n_workers, 2) 95% interval of worker_skill
    worker_evidence: np.ndarray | None = None  # (n_workers,) votes on items that also have another vote or gold
    temperature: float = 1.0  # exponent on the summed worker log-likelihoods in `posteriors` (already applied)
    # The default chooses its model per crowd (choice.py): which one, why, and the evidence (JSON-ready).
    model: str = ""
    model_reason: str = ""
    model_evidence: dict | None = None


@dataclass(frozen=True, eq=False)
class CrowdData:
    """Validated, integer-coded votes plus the sparse matrices the methods share."""

    items: np.ndarray  # (n_votes,) int64
    workers: np.ndarray  # (n_votes,) int64
    labels: np.ndarray  # (n_votes,) int64
    n_items: int
    n_workers: int
    n_classes: int
    gold_items: np.ndarray  # (n_gold,) int64
    gold_labels: np.ndarray  # (n_gold,) int64
    worker_weights: np.ndarray | None  # (n_workers,) float64
    design: sp.csr_matrix  # (n_items, n_workers * n_classes): vote counts per item and (worker, label)
    labelled: np.ndarray  # (n_items,) bool: item received at least one vote
    informed: np.ndarray  # (n_items,) float64 1.0 where the item has votes or gold: rows that inform the priors
    all_informed: bool

    @property
    def n_votes(self) -> int:
        return int(self.items.size)

    def vote_counts(self, weights: np.ndarray | None = None) -> np.ndarray:
        """(n_items, n_classes) number of votes (or summed per-vote weights) per item and class."""
        flat = self.items * self.n_classes + self.labels
        counts = np.bincount(flat, weights=weights, minlength=self.n_items * self.n_classes)
        return counts.astype(np.float64).reshape(self.n_items, self.n_classes)

    def votes_per_worker(self) -> np.ndarray:
        return np.bincount(self.workers, minlength=self.n_workers).astype(np.float64)


def _as_index_array(values: object, name: str) -> np.ndarray:
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"{name} must hold integers, got dtype {arr.dtype}")
    arr = arr.astype(np.int64, copy=False)
    if arr.size and arr.min() < 0:
        raise ValueError(f"{name} must be non-negative integer codes")
    return arr


def _size(arr: np.ndarray, given: int | None, name: str) -> int:
    needed = int(arr.max()) + 1 if arr.size else 0
    if given is None:
        return needed
    if given < needed:
        raise ValueError(f"{name}={given} but codes go up to {needed - 1}")
    return int(given)


def prepare(
    items: object,
    workers: object,
    labels: object,
    *,
    n_items: int | None = None,
    n_workers: int | None = None,
    n_classes: int | None = None,
    gold_items: object = None,
    gold_labels: object = None,
    worker_weights: object = None,
) -> CrowdData:
    """Validate (item, worker, label) code arrays and build the shared sparse matrices.

    Duplicate (worker, item) rows are kept as given: they simply count twice.
    """
    it = _as_index_array(items, "items")
    wk = _as_index_array(workers, "workers")
    lb = _as_index_array(labels, "labels")
    if not (it.size == wk.size == lb.size):
        raise ValueError(f"items, workers and labels differ in length: {it.size}, {wk.size}, {lb.size}")
    g_it = _as_index_array([] if gold_items is None else gold_items, "gold_items")
    g_lb = _as_index_array([] if gold_labels is None else gold_labels, "gold_labels")
    if g_it.size != g_lb.size:
        raise ValueError("gold_items and gold_labels differ in length")
    n_i = _size(np.concatenate([it, g_it]), n_items, "n_items")
    n_w = _size(wk, n_workers, "n_workers")
    n_k = max(_size(np.concatenate([lb, g_lb]), n_classes, "n_classes"), 1)
    weights = None
    if worker_weights is not None:
        weights = np.asarray(worker_weights, dtype=np.float64)
        if weights.shape != (n_w,):
            raise ValueError(f"worker_weights must have shape ({n_w},), got {weights.shape}")
        if not np.all(np.isfinite(weights)) or weights.min(initial=0.0) < 0:
            raise ValueError("worker_weights must be finite and non-negative")
    # COO -> CSR sums duplicate (item, worker, label) rows, which is exactly "kept as given".
    design = sp.csr_matrix(
        (np.ones(it.size, dtype=np.float64), (it, wk * n_k + lb)), shape=(n_i, n_w * n_k), dtype=np.float64
    )
    design.sum_duplicates()
    labelled = np.bincount(it, minlength=n_i) > 0
    informed = labelled.astype(np.float64)
    informed[g_it] = 1.0
    return CrowdData(
        items=it,
        workers=wk,
        labels=lb,
        n_items=n_i,
        n_workers=n_w,
        n_classes=n_k,
        gold_items=g_it,
        gold_labels=g_lb,
        worker_weights=weights,
        design=design,
        labelled=labelled,
        informed=informed,
        all_informed=bool(informed.all()),
    )


def clamp_gold(data: CrowdData, posteriors: np.ndarray) -> np.ndarray:
    """Semi-supervised EM: items with a known answer keep a one-hot posterior at every step (in place)."""
    if data.gold_items.size:
        posteriors[data.gold_items] = 0.0
        posteriors[data.gold_items, data.gold_labels] = 1.0
    return posteriors


def estimate_priors(data: CrowdData, posteriors: np.ndarray, smoothing: float = 0.0) -> np.ndarray:
    """Class priors = mean posterior over items that have votes or gold (unlabelled rows only echo the prior)."""
    # Column sums along axis 0 are vectorised and BLAS-free (so bitwise independent of the BLAS thread count);
    # only when some rows are uninformed do we pay for the mask.
    mass = (posteriors.sum(axis=0) if data.all_informed else posteriors[data.informed > 0].sum(axis=0)) + smoothing
    total = mass.sum()
    if total <= 0:
        return np.full(data.n_classes, 1.0 / data.n_classes)
    return mass / total


def soft_majority(data: CrowdData, weights: np.ndarray | None = None) -> np.ndarray:
    """Vote shares per item (optionally per-vote weighted); rows without votes are left at zero."""
    counts = data.vote_counts(weights)
    totals = counts.sum(axis=1, keepdims=True)
    return np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)


def expected_counts(data: CrowdData, posteriors: np.ndarray) -> np.ndarray:
    """counts[w, k, l] = sum over w's votes l of p(true class of the voted item = k): the DS M-step statistic."""
    k = data.n_classes
    # design.T is a CSC view: scipy walks items in order and scatters into the small (worker*label, K) output,
    # reading posteriors sequentially; a CSR transpose would gather posterior rows at random and run ~3x slower.
    stacked = data.design.T @ posteriors  # (n_workers * n_classes [given], n_classes [true])
    return np.ascontiguousarray(stacked.reshape(data.n_workers, k, k).transpose(0, 2, 1))


def row_max(values: np.ndarray) -> np.ndarray:
    """Row maxima of an (n, K) array with small K: K strided column passes beat numpy's per-row reduction ~3x."""
    top = values[:, 0].copy()
    for column in range(1, values.shape[1]):
        np.maximum(top, values[:, column], out=top)
    return top


def row_sum(values: np.ndarray) -> np.ndarray:
    """Row sums of an (n, K) array with small K by column passes: fast, and unlike `values @ ones` BLAS-free,
    so results do not depend on the BLAS thread count."""
    total = values[:, 0].copy()
    for column in range(1, values.shape[1]):
        total += values[:, column]
    return total


def row_argmax(values: np.ndarray) -> np.ndarray:
    """First (lowest-index) column holding each row's maximum, as np.argmax, with the column-pass speed-up."""
    top = row_max(values)
    best = np.zeros(values.shape[0], dtype=np.int64)
    for column in range(values.shape[1] - 1, 0, -1):  # from the right, so the lowest maximal index wins
        best[values[:, column] == top] = column
    best[values[:, 0] == top] = 0
    return best


def e_step(data: CrowdData, confusion: np.ndarray, priors: np.ndarray) -> tuple[np.ndarray, float]:
    """Posteriors of every item given worker confusion matrices and class priors, and the log-likelihood.

    `confusion` rows need not be normalised (MACE's variational weights are not); only ratios across true
    classes matter for the posterior. Works in log space with in-place updates: on a million votes this is a
    handful of passes over an (n_items, K) array.
    """
    k = data.n_classes
    log_conf = np.log(np.maximum(confusion, PROB_FLOOR))
    by_vote = log_conf.transpose(0, 2, 1).reshape(data.n_workers * k, k)  # row = (worker, given label)
    joint = data.design @ by_vote
    joint += np.log(np.maximum(priors, PROB_FLOOR))
    top = row_max(joint)
    joint -= top[:, None]
    np.exp(joint, out=joint)
    norm = row_sum(joint)
    joint /= norm[:, None]
    log_likelihood = float((data.informed * (top + np.log(norm))).sum())
    return clamp_gold(data, joint), log_likelihood


def normalise_rows(counts: np.ndarray, smoothing: float) -> np.ndarray:
    """Laplace-smoothed row normalisation over the last axis (given labels)."""
    smoothed = counts + smoothing
    totals = smoothed.sum(axis=-1, keepdims=True)
    k = counts.shape[-1]
    return np.divide(smoothed, totals, out=np.full_like(smoothed, 1.0 / k), where=totals > 0)


def skill_from_confusion(confusion: np.ndarray, priors: np.ndarray) -> np.ndarray:
    """Accuracy a worker would have on an item drawn from the class priors: sum_k prior_k * conf[w, k, k]."""
    return np.clip(np.einsum("wkk,k->w", confusion, priors), 0.0, 1.0)


def fill_unlabelled(data: CrowdData, posteriors: np.ndarray, priors: np.ndarray) -> np.ndarray:
    """Items nobody voted on (and without gold) get the class prior as posterior (in place)."""
    empty = ~data.labelled
    empty[data.gold_items] = False
    posteriors[empty] = priors
    return posteriors


def finish(
    data: CrowdData,
    posteriors: np.ndarray,
    *,
    priors: np.ndarray,
    confusion: np.ndarray | None,
    skill: np.ndarray | None = None,
    iterations: int,
) -> AggregationResult:
    """Package a result; labels are argmax with ties to the lowest index (np.argmax takes the first maximum)."""
    posteriors = fill_unlabelled(data, clamp_gold(data, posteriors), priors)
    labels = row_argmax(posteriors)
    if skill is None:
        skill = skill_from_confusion(confusion, priors) if confusion is not None else np.full(data.n_workers, np.nan)
    return AggregationResult(
        posteriors=posteriors,
        labels=labels,
        worker_confusion=confusion,
        worker_skill=skill,
        class_priors=priors,
        iterations=iterations,
    )
