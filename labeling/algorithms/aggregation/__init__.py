"""Label aggregation for crowd classification: many noisy votes per item -> one posterior per item.

Pure numpy/scipy, no Django. Input is three integer arrays (item, worker, label), one entry per vote; output is
an `AggregationResult` with per-item posteriors and labels and per-worker confusion matrices and skills.

    result = aggregate("dawid_skene", items, workers, labels, gold_items=g_items, gold_labels=g_labels)

Methods (each has a note with its paper beside its module):
    mv, wmv, wawa          majority.py     vote counting (wmv takes worker_weights)
    dawid_skene, one_coin_ds  dawid_skene.py  EM over confusion matrices
    mace                   mace.py         knows-or-spams worker model, variational Bayes
    pooled_dawid_skene     pooled_ds.py    the default: a model chosen per crowd by cross-fitted evidence
                                           (choice.py / choice.md: MV, pooled one-coin, pooled DS, MACE, DS),
                                           calibrated posteriors, worker intervals (pooled_ds.md);
                           hierarchical_prior.py  its M-step: the crowd-level Dirichlet prior (Minka)
DEFAULT_METHOD is chosen for crowds of any sparsity, not only the five public sets (bench/quality_algorithms.py).

METHODS[name](data, max_iter=..., tol=..., **options) takes the validated `CrowdData` from `prepare(...)`; use it
to run several methods on one prepared input. For online updates between aggregations see ../posterior.py.
"""

from __future__ import annotations

from collections.abc import Callable

from .base import AggregationResult, CrowdData, prepare

# Aliased so that the package attributes `dawid_skene` and `mace` stay the submodules, not same-named functions.
from .dawid_skene import DEFAULT_MAX_ITER, DEFAULT_TOL
from .dawid_skene import dawid_skene as _dawid_skene
from .dawid_skene import one_coin_ds as _one_coin_ds
from .mace import mace as _mace
from .majority import majority_vote as _majority_vote
from .majority import wawa as _wawa
from .majority import weighted_majority_vote as _weighted_majority_vote
from .pooled_ds import pooled_dawid_skene as _pooled_dawid_skene

__all__ = [
    "DEFAULT_METHOD",
    "METHODS",
    "AggregationResult",
    "CrowdData",
    "aggregate",
    "prepare",
]

METHODS: dict[str, Callable[..., AggregationResult]] = {
    "mv": _majority_vote,
    "wmv": _weighted_majority_vote,
    "wawa": _wawa,
    "dawid_skene": _dawid_skene,
    "one_coin_ds": _one_coin_ds,
    "mace": _mace,
    "pooled_dawid_skene": _pooled_dawid_skene,
}

DEFAULT_METHOD = "pooled_dawid_skene"


def aggregate(
    method: str,
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
    max_iter: int = DEFAULT_MAX_ITER,
    tol: float = DEFAULT_TOL,
    **options: object,
) -> AggregationResult:
    """Aggregate votes with `method` (a key of METHODS).

    items/workers/labels: equal-length non-negative integer code arrays, one entry per vote; sizes default to
    max code + 1. gold_items/gold_labels: known answers, clamped during EM. worker_weights: for "wmv".
    Extra keyword `options` go to the method (e.g. smoothing=0.01 for dawid_skene).
    """
    try:
        fn = METHODS[method]
    except KeyError:
        raise ValueError(f"unknown aggregation method {method!r}; choose one of {', '.join(sorted(METHODS))}") from None
    data = prepare(
        items,
        workers,
        labels,
        n_items=n_items,
        n_workers=n_workers,
        n_classes=n_classes,
        gold_items=gold_items,
        gold_labels=gold_labels,
        worker_weights=worker_weights,
    )
    return fn(data, max_iter=max_iter, tol=tol, **options)
