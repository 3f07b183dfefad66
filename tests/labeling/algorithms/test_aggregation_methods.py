"""Aggregation methods on hand-computed cases and simulated crowds (pure numpy, no Django, no database)."""

from __future__ import annotations

import numpy as np
import pytest

from labeling.algorithms.aggregation import DEFAULT_METHOD, METHODS, AggregationResult, aggregate
from labeling.algorithms.posterior import batch_posteriors


def simulate(
    confusion: np.ndarray, n_items: int, votes_per_item: int, seed: int = 0, priors: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Crowd with known confusion matrices (n_workers, K, K); each item gets distinct random workers."""
    rng = np.random.default_rng(seed)
    n_workers, k, _ = confusion.shape
    truth = rng.choice(k, size=n_items, p=priors)
    workers = np.argsort(rng.random((n_items, n_workers)), axis=1)[:, :votes_per_item].ravel()
    items = np.repeat(np.arange(n_items), votes_per_item)
    cumulative = confusion.cumsum(axis=2)[workers, truth[items]]
    labels = (rng.random(items.size)[:, None] > cumulative[:, :-1]).sum(axis=1)
    return items, workers, labels, truth


def random_confusions(n_workers: int, k: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    conf = rng.dirichlet(np.ones(k), size=(n_workers, k)) * 0.5
    conf[:, np.arange(k), np.arange(k)] += rng.uniform(0.2, 0.5, size=(n_workers, k))
    return conf / conf.sum(axis=2, keepdims=True)


def test_majority_vote_counts_and_ties_go_to_lowest_label() -> None:
    items = np.array([0, 0, 0, 1, 1, 2, 2, 2, 2])
    workers = np.array([0, 1, 2, 0, 1, 0, 1, 2, 3])
    labels = np.array([2, 2, 1, 1, 0, 2, 1, 2, 1])  # item 1 ties 1-vs-0, item 2 ties 2-vs-1
    result = aggregate("mv", items, workers, labels, n_items=4)
    assert result.labels.tolist() == [2, 0, 1, 1]  # item 3 has no votes: prior argmax
    np.testing.assert_allclose(result.posteriors[0], [0, 1 / 3, 2 / 3])
    np.testing.assert_allclose(result.posteriors[1], [0.5, 0.5, 0])
    priors = np.mean([[0, 1 / 3, 2 / 3], [0.5, 0.5, 0], [0, 0.5, 0.5]], axis=0)
    np.testing.assert_allclose(result.class_priors, priors)
    np.testing.assert_allclose(result.posteriors[3], priors)  # unlabelled item -> class prior
    np.testing.assert_allclose(result.posteriors.sum(axis=1), 1.0)


def test_weighted_majority_vote_uses_worker_weights() -> None:
    items = np.array([0, 0, 0, 1, 1])
    workers = np.array([0, 1, 2, 0, 1])
    labels = np.array([1, 1, 0, 0, 1])
    weights = np.array([1.0, 1.0, 3.0])
    result = aggregate("wmv", items, workers, labels, worker_weights=weights)
    assert result.labels.tolist() == [0, 0]  # 3 > 1 + 1 on item 0; 1-1 tie on item 1 -> lowest
    np.testing.assert_allclose(result.posteriors[0], [0.6, 0.4])
    with pytest.raises(ValueError, match="worker_weights"):
        aggregate("wmv", items, workers, labels)
    with pytest.raises(ValueError, match="non-negative"):
        aggregate("wmv", items, workers, labels, worker_weights=np.array([1.0, -1.0, 1.0]))


def test_dawid_skene_one_iteration_matches_hand_computation() -> None:
    # Workers A, B, C on three binary items: item0 A0 B0 C1, item1 A1 B1 C1, item2 A0 B0 C0.
    items = np.array([0, 0, 0, 1, 1, 1, 2, 2, 2])
    workers = np.array([0, 1, 2, 0, 1, 2, 0, 1, 2])
    labels = np.array([0, 0, 1, 1, 1, 1, 0, 0, 0])
    one = aggregate("dawid_skene", items, workers, labels, max_iter=1, smoothing=1.0)
    # Start: vote shares (2/3, 1/3), (0, 1), (1, 0); priors (5/9, 4/9). Laplace add-one confusions:
    # A = B: true0 -> (5/3 + 1, 0 + 1) / (11/3) = (8/11, 3/11); true1 -> (1/3 + 1, 1 + 1) / (10/3) = (.4, .6)
    # C:     true0 -> (1 + 1, 2/3 + 1) / (11/3) = (6/11, 5/11); true1 -> (0 + 1, 4/3 + 1) / (10/3) = (.3, .7)
    like0 = 5 / 9 * (8 / 11) ** 2 * (5 / 11)
    like1 = 4 / 9 * 0.4**2 * 0.7
    np.testing.assert_allclose(one.posteriors[0], [like0 / (like0 + like1), like1 / (like0 + like1)], rtol=1e-12)
    assert one.iterations == 1
    converged = aggregate("dawid_skene", items, workers, labels)
    assert converged.labels.tolist() == [0, 1, 0]
    # C's only dissent is on item 0, so C is the least reliable worker.
    assert converged.worker_skill[2] < converged.worker_skill[0] == pytest.approx(converged.worker_skill[1])


def test_dawid_skene_recovers_known_confusion_matrices() -> None:
    truth_conf = random_confusions(n_workers=30, k=3, seed=1)
    items, workers, labels, truth = simulate(truth_conf, n_items=3000, votes_per_item=8, seed=2)
    result = aggregate("dawid_skene", items, workers, labels)
    error = np.abs(result.worker_confusion - truth_conf)
    assert error.mean() < 0.03, error.mean()
    assert error.max() < 0.15, error.max()
    mv = aggregate("mv", items, workers, labels)
    assert (result.labels == truth).mean() > (mv.labels == truth).mean()
    # Within a point of the Bayes-optimal rule that knows the true confusion matrices and priors.
    oracle = batch_posteriors(items, workers, labels, truth_conf, np.full(3, 1 / 3)).argmax(axis=1)
    assert (result.labels == truth).mean() >= (oracle == truth).mean() - 0.01
    rows = result.worker_confusion.sum(axis=2)
    np.testing.assert_allclose(rows, 1.0)
    assert result.worker_confusion.shape == (30, 3, 3)


def test_one_coin_recovers_symmetric_accuracies() -> None:
    acc = np.linspace(0.55, 0.95, 20)
    conf = np.stack([np.full((4, 4), (1 - a) / 3) + np.eye(4) * (a - (1 - a) / 3) for a in acc])
    items, workers, labels, _ = simulate(conf, n_items=3000, votes_per_item=5, seed=3)
    result = aggregate("one_coin_ds", items, workers, labels)
    assert np.abs(result.worker_skill - acc).max() < 0.06


def test_gold_clamping_rescues_a_crowd_whose_majority_flips_labels() -> None:
    # Three "flippers" answer the opposite class 85% of the time; two honest workers are right 75% of the time.
    flip = np.array([[0.15, 0.85], [0.85, 0.15]])
    honest = np.array([[0.75, 0.25], [0.25, 0.75]])
    conf = np.stack([flip, flip, flip, honest, honest])
    items, workers, labels, truth = simulate(conf, n_items=1000, votes_per_item=5, seed=4)
    gold = np.arange(0, 1000, 10)  # 10% gold
    free = aggregate("dawid_skene", items, workers, labels)
    clamped = aggregate("dawid_skene", items, workers, labels, gold_items=gold, gold_labels=truth[gold])
    rest = np.setdiff1d(np.arange(1000), gold)
    assert (free.labels[rest] == truth[rest]).mean() < 0.2  # unsupervised EM believes the flippers
    assert (clamped.labels[rest] == truth[rest]).mean() > 0.9  # gold teaches it that they flip
    np.testing.assert_array_equal(clamped.posteriors[gold].argmax(axis=1), truth[gold])
    assert np.all(clamped.posteriors[gold].max(axis=1) == 1.0)
    assert clamped.worker_confusion[0, 0, 1] > 0.7


@pytest.mark.parametrize("method", sorted(set(METHODS) - {"wmv"}))
def test_methods_are_deterministic_and_well_formed(method: str) -> None:
    items, workers, labels, _ = simulate(random_confusions(12, 4, seed=5), n_items=400, votes_per_item=4, seed=6)
    first = aggregate(method, items, workers, labels, n_items=410, n_workers=13)
    second = aggregate(method, items.copy(), workers.copy(), labels.copy(), n_items=410, n_workers=13)
    for field in ("posteriors", "labels", "worker_skill", "class_priors"):
        np.testing.assert_array_equal(getattr(first, field), getattr(second, field))
    assert isinstance(first, AggregationResult)
    assert first.posteriors.shape == (410, 4) and first.labels.dtype == np.int64
    np.testing.assert_allclose(first.posteriors.sum(axis=1), 1.0)
    np.testing.assert_array_equal(first.labels, first.posteriors.argmax(axis=1))
    np.testing.assert_allclose(first.posteriors[400:], np.tile(first.class_priors, (10, 1)))
    assert first.worker_skill.shape == (13,) and np.all((first.worker_skill >= 0) & (first.worker_skill <= 1))
    assert first.worker_confusion is not None and first.worker_confusion.shape == (13, 4, 4)


def test_vote_order_does_not_change_the_answer() -> None:
    items, workers, labels, _ = simulate(random_confusions(10, 3, seed=7), n_items=500, votes_per_item=5, seed=8)
    perm = np.random.default_rng(9).permutation(items.size)
    a = aggregate(DEFAULT_METHOD, items, workers, labels)
    b = aggregate(DEFAULT_METHOD, items[perm], workers[perm], labels[perm])
    np.testing.assert_array_equal(a.labels, b.labels)
    np.testing.assert_allclose(a.posteriors, b.posteriors, atol=1e-9)


def test_aggregating_the_consensus_again_is_idempotent() -> None:
    items, workers, labels, _ = simulate(random_confusions(10, 3, seed=10), n_items=300, votes_per_item=5, seed=11)
    first = aggregate(DEFAULT_METHOD, items, workers, labels)
    # Feed the consensus back as one more (perfectly consistent) voter: nothing may change.
    again = aggregate(
        DEFAULT_METHOD,
        np.concatenate([items, np.arange(300)]),
        np.concatenate([workers, np.full(300, 10)]),
        np.concatenate([labels, first.labels]),
    )
    np.testing.assert_array_equal(again.labels, first.labels)


def test_duplicate_votes_count_twice() -> None:
    once = aggregate("mv", [0, 0, 0], [0, 1, 2], [1, 0, 0])
    twice = aggregate("mv", [0, 0, 0, 0], [0, 0, 1, 2], [1, 1, 0, 0])
    assert once.labels[0] == 0 and twice.labels[0] == 0  # 2-2 tie -> lowest
    np.testing.assert_allclose(twice.posteriors[0], [0.5, 0.5])


def test_input_validation() -> None:
    with pytest.raises(ValueError, match="unknown aggregation method"):
        aggregate("nope", [0], [0], [0])
    with pytest.raises(ValueError, match="differ in length"):
        aggregate("mv", [0, 1], [0], [0])
    with pytest.raises(ValueError, match="non-negative"):
        aggregate("mv", [0, -1], [0, 0], [0, 1])
    with pytest.raises(ValueError, match="integers"):
        aggregate("mv", [0.5], [0], [0])
    with pytest.raises(ValueError, match="n_classes"):
        aggregate("mv", [0], [0], [3], n_classes=2)
    with pytest.raises(TypeError, match="smoothng"):  # a misspelt option must not be silently ignored
        aggregate("dawid_skene", [0], [0], [0], smoothng=1.0)


def test_empty_input_gives_uniform_prior() -> None:
    result = aggregate("dawid_skene", np.array([], dtype=np.int64), [], [], n_items=2, n_workers=1, n_classes=3)
    np.testing.assert_allclose(result.posteriors, 1 / 3)
    assert result.labels.tolist() == [0, 0]
