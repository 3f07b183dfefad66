"""Simulated crowds with known truth and worker skills, for tests and benchmarks of the aggregation methods.

Pure numpy, deterministic given the seed. A crowd has K classes with (optionally skewed) class priors and three
kinds of workers: honest ones (accuracy drawn from a range, errors spread by a Dirichlet draw per true class),
spammers (uniformly random labels) and adversaries (a fixed permutation of the classes, without fixed points, so
they are always wrong and always consistent). How many labels each worker gives follows a Zipf-like law, as in
real crowds: a few workers give most of the labels, many give a handful.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SimulatedCrowd:
    items: np.ndarray  # (n_votes,) int64
    workers: np.ndarray  # (n_votes,) int64
    labels: np.ndarray  # (n_votes,) int64
    truth: np.ndarray  # (n_items,) int64
    confusion: np.ndarray  # (n_workers, K, K) the true confusion matrices
    n_classes: int

    @property
    def n_items(self) -> int:
        return int(self.truth.size)

    @property
    def n_workers(self) -> int:
        return int(self.confusion.shape[0])

    def worker_accuracy(self) -> tuple[np.ndarray, np.ndarray]:
        """(share of each worker's labels that are right, number of labels): the 'gold accuracy' of a worker."""
        right = (self.labels == self.truth[self.items]).astype(np.float64)
        n = np.bincount(self.workers, minlength=self.n_workers).astype(np.float64)
        hits = np.bincount(self.workers, weights=right, minlength=self.n_workers)
        return np.divide(hits, n, out=np.full_like(n, np.nan), where=n > 0), n


def simulate_crowd(
    *,
    n_items: int,
    n_workers: int,
    n_classes: int,
    votes_per_item: int | tuple[int, int],
    accuracy: tuple[float, float] = (0.5, 0.9),
    spammers: float = 0.0,
    adversaries: float = 0.0,
    prior_skew: float = 0.0,
    activity_skew: float = 1.0,
    seed: int = 0,
) -> SimulatedCrowd:
    """Draw a crowd.

    votes_per_item: a number, or an inclusive (low, high) range drawn per item (capped at n_workers).
    accuracy: range of honest workers' accuracy (uniform). spammers / adversaries: shares of workers.
    prior_skew: class priors proportional to exp(-prior_skew * rank) (0 = balanced).
    activity_skew: worker activity proportional to 1 / (rank + 1) ** activity_skew (0 = everyone alike).
    """
    rng = np.random.default_rng(seed)
    k = n_classes
    priors = np.exp(-prior_skew * np.arange(k))
    priors /= priors.sum()
    truth = rng.choice(k, size=n_items, p=priors)

    acc = rng.uniform(accuracy[0], accuracy[1], n_workers)
    errors = rng.dirichlet(np.ones(max(k - 1, 1)), size=(n_workers, k))
    confusion = np.zeros((n_workers, k, k))
    for c in range(k):
        others = np.delete(np.arange(k), c)
        confusion[:, c, others] = (1.0 - acc)[:, None] * errors[:, c, : k - 1]
        confusion[:, c, c] = acc
    kind = rng.permutation(n_workers)
    n_spam, n_adv = round(spammers * n_workers), round(adversaries * n_workers)
    confusion[kind[:n_spam]] = 1.0 / k
    shift = rng.integers(1, max(k, 2), size=n_adv) if k > 1 else np.zeros(n_adv, dtype=np.int64)
    for w, step in zip(kind[n_spam : n_spam + n_adv], shift, strict=True):
        confusion[w] = np.roll(np.eye(k), int(step), axis=1)  # true c -> label c + step (mod K): never right

    if isinstance(votes_per_item, tuple):
        per_item = rng.integers(votes_per_item[0], votes_per_item[1] + 1, size=n_items)
    else:
        per_item = np.full(n_items, votes_per_item)
    per_item = np.minimum(per_item, n_workers)
    activity = 1.0 / (rng.permutation(n_workers) + 1.0) ** activity_skew
    activity /= activity.sum()
    # Distinct voters per item, drawn with probability ~ activity: Gumbel top-k over workers, in item chunks.
    items_list, workers_list = [], []
    log_act = np.log(activity)
    for start in range(0, n_items, 2048):
        stop = min(start + 2048, n_items)
        keys = log_act - np.log(-np.log(rng.random((stop - start, n_workers))))
        order = np.argsort(-keys, axis=1)
        take = np.arange(n_workers)[None, :] < per_item[start:stop, None]
        items_list.append(np.repeat(np.arange(start, stop), per_item[start:stop]))
        workers_list.append(order[take])
    items = np.concatenate(items_list).astype(np.int64)
    workers = np.concatenate(workers_list).astype(np.int64)
    cumulative = confusion.cumsum(axis=2)[workers, truth[items]]
    labels = (rng.random(items.size)[:, None] > cumulative[:, :-1]).sum(axis=1).astype(np.int64)
    return SimulatedCrowd(items, workers, labels, truth.astype(np.int64), confusion, k)


def _activity_workers(
    rng: np.random.Generator, per_item: np.ndarray, activity: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Distinct voters per item drawn with probability ~ activity (Gumbel top-k, in item chunks)."""
    n_items, n_workers = per_item.size, activity.size
    items_list, workers_list = [], []
    log_act = np.log(activity)
    for start in range(0, n_items, 2048):
        stop = min(start + 2048, n_items)
        keys = log_act - np.log(-np.log(rng.random((stop - start, n_workers))))
        order = np.argsort(-keys, axis=1)
        take = np.arange(n_workers)[None, :] < per_item[start:stop, None]
        items_list.append(np.repeat(np.arange(start, stop), per_item[start:stop]))
        workers_list.append(order[take])
    return np.concatenate(items_list).astype(np.int64), np.concatenate(workers_list).astype(np.int64)


def simulate_mixture(
    *,
    n_classes: int,
    n_workers: int,
    votes_per_item: float,
    labels_per_worker: float,
    near_random: float = 0.0,
    spammers: float = 0.0,
    asymmetric: float = 0.0,
    accuracy: tuple[float, float] = (0.7, 0.95),
    near_random_edge: float = 0.1,
    hard_items: float = 0.0,
    prior_skew: float = 0.0,
    activity_skew: float = 0.5,
    leaning: float = 0.0,
    lean: tuple[float, float] = (0.2, 0.8),
    seed: int = 0,
) -> SimulatedCrowd:
    """A crowd drawn from a mixture of worker types (the shapes of issue 23), with truth known.

    Sizes: n_items = n_workers * labels_per_worker / votes_per_item; votes per item are drawn around
    `votes_per_item` (floor or ceiling, so that the mean is right). Worker types, by share of workers:
    * near_random: symmetric, accuracy in [1/K, 1/K + near_random_edge] (barely better than guessing);
    * spammers: answer from their own random label distribution (Dirichlet(1)), whatever the truth;
    * asymmetric: reliable but class-dependent: per-class accuracy drawn from `accuracy`, errors Dirichlet(1)
      spread (systematic confusions);
    * the rest: reliable and symmetric (one-coin) with accuracy uniform in `accuracy`.
    * leaning (taken from the reliable symmetric ones): with probability b (uniform in `lean`) the worker answers
      class 0, whatever the truth, else as a symmetric worker: strongly asymmetric in one shared direction (a
      crowd that says "no" too often, as on bluebirds), so majority vote is pulled to class 0 on close items.
    hard_items: share of items with a decoy class that every worker picks instead of the truth with probability
    0.35 (correlated errors: the votes are then not independent given the truth, as on real hard items).
    """
    rng = np.random.default_rng(seed)
    k = n_classes
    n_items = max(round(n_workers * labels_per_worker / votes_per_item), 1)
    priors = np.exp(-prior_skew * np.arange(k))
    priors /= priors.sum()
    truth = rng.choice(k, size=n_items, p=priors)
    eye = np.eye(k)
    off = (1.0 - eye) / max(k - 1, 1)
    kinds = rng.permutation(n_workers)
    n_near, n_spam, n_asym = (round(s * n_workers) for s in (near_random, spammers, asymmetric))
    acc = rng.uniform(accuracy[0], accuracy[1], n_workers)
    near = kinds[:n_near]
    acc[near] = rng.uniform(1.0 / k, 1.0 / k + near_random_edge, n_near)
    confusion = acc[:, None, None] * eye + (1.0 - acc)[:, None, None] * off
    spam = kinds[n_near : n_near + n_spam]
    confusion[spam] = rng.dirichlet(np.ones(k), size=spam.size)[:, None, :]
    asym = kinds[n_near + n_spam : n_near + n_spam + n_asym]
    if asym.size and k > 1:
        row_acc = rng.uniform(accuracy[0], accuracy[1], (asym.size, k))
        errors = rng.dirichlet(np.ones(k - 1), size=(asym.size, k))
        for c in range(k):
            others = np.delete(np.arange(k), c)
            confusion[asym, c, :] = 0.0
            confusion[asym[:, None], c, others[None, :]] = (1.0 - row_acc[:, c])[:, None] * errors[:, c]
            confusion[asym, c, c] = row_acc[:, c]
    n_lean = round(leaning * n_workers)
    leaners = kinds[n_near + n_spam + n_asym : n_near + n_spam + n_asym + n_lean]
    if leaners.size:
        b = rng.uniform(lean[0], lean[1], leaners.size)[:, None]
        confusion[leaners] *= 1.0 - b[:, :, None]
        confusion[leaners, :, 0] += b
    low = int(np.floor(votes_per_item))
    per_item = np.minimum(low + (rng.random(n_items) < votes_per_item - low), n_workers).astype(np.int64)
    per_item = np.maximum(per_item, 1)
    activity = 1.0 / (rng.permutation(n_workers) + 1.0) ** activity_skew
    activity /= activity.sum()
    items, workers = _activity_workers(rng, per_item, activity)
    rows = confusion[workers, truth[items]]
    if hard_items > 0 and k > 1:
        hard = rng.random(n_items) < hard_items
        decoy = (truth + rng.integers(1, k, n_items)) % k
        on_hard = hard[items]
        rows = rows.copy()
        rows[on_hard] *= 0.65
        rows[on_hard, decoy[items[on_hard]]] += 0.35
    cumulative = rows.cumsum(axis=1)
    labels = (rng.random(items.size)[:, None] > cumulative[:, :-1]).sum(axis=1).astype(np.int64)
    return SimulatedCrowd(items, workers, labels, truth.astype(np.int64), confusion, k)


# The six crowd shapes of issue 23 (classes, workers, labels per item, labels per worker) with worker mixtures
# chosen so that majority vote lands near the accuracy the issue reports for the unseen set of that shape.
SHAPES: dict[str, dict[str, object]] = {
    "k2 75w 10/item near-random": dict(n_classes=2, n_workers=75, votes_per_item=10, labels_per_worker=260,
                                       near_random=0.45, accuracy=(0.65, 0.9), hard_items=0.1),
    "k2 75w 5.5/item near-random": dict(n_classes=2, n_workers=75, votes_per_item=5.5, labels_per_worker=150,
                                        near_random=0.35, accuracy=(0.7, 0.95), hard_items=0.05),
    "k2 25w 5/item heavy workers": dict(n_classes=2, n_workers=25, votes_per_item=5, labels_per_worker=425,
                                        near_random=0.4, spammers=0.1, accuracy=(0.6, 0.85), asymmetric=0.2),
    "k5 110w 20/item": dict(n_classes=5, n_workers=110, votes_per_item=20, labels_per_worker=55,
                            near_random=0.2, spammers=0.2, asymmetric=0.2, accuracy=(0.4, 0.75), hard_items=0.1),
    "k10 44w 4/item": dict(n_classes=10, n_workers=44, votes_per_item=4, labels_per_worker=67, spammers=0.25,
                           asymmetric=0.25, accuracy=(0.5, 0.9), near_random_edge=0.1, near_random=0.1),
    "k8 59w 2.5/item sparse": dict(n_classes=8, n_workers=59, votes_per_item=2.5, labels_per_worker=43,
                                   spammers=0.1, asymmetric=0.4, accuracy=(0.6, 0.95), prior_skew=0.2),
    # Not in the issue table: the generalisation check for dense crowds (everyone labels every item) of strongly
    # asymmetric workers leaning to one class, with correlated errors on hard items (bluebirds' shape, not fitted
    # to it: majority vote lands well below bluebirds' .76).
    "k2 39w 39/item dense leaning": dict(n_classes=2, n_workers=39, votes_per_item=39, labels_per_worker=108,
                                         leaning=0.6, near_random=0.3, accuracy=(0.55, 0.8), lean=(0.2, 0.7),
                                         prior_skew=0.2, hard_items=0.15),
}  # fmt: skip
