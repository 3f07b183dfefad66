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
