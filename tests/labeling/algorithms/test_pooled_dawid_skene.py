"""The default aggregator (pooled Dawid-Skene), calibration and worker scores on seeded simulated crowds.

Margins are wide: a correct implementation meets them on any seed; they catch a broken prior, temperature or
interval, not a point of accuracy.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import spearmanr

from labeling.algorithms.aggregation import DEFAULT_METHOD, aggregate
from labeling.algorithms.calibration import expected_calibration_error, vote_temperature
from labeling.algorithms.crowd_sim import SimulatedCrowd, simulate_crowd
from labeling.algorithms.posterior import batch_posteriors, item_posterior


def run(method: str, crowd: SimulatedCrowd, **kwargs: object):
    return aggregate(method, crowd.items, crowd.workers, crowd.labels, n_items=crowd.n_items,
                     n_workers=crowd.n_workers, n_classes=crowd.n_classes, **kwargs)  # fmt: skip


def accuracy(result, crowd: SimulatedCrowd) -> float:
    return float((result.labels == crowd.truth).mean())


def test_default_is_the_pooled_model() -> None:
    assert DEFAULT_METHOD == "pooled_dawid_skene"


def test_beats_majority_vote_on_a_sparse_many_class_crowd() -> None:
    crowd = simulate_crowd(n_items=1500, n_workers=300, n_classes=8, votes_per_item=(2, 3), prior_skew=0.3, seed=1)
    assert accuracy(run(DEFAULT_METHOD, crowd), crowd) >= accuracy(run("mv", crowd), crowd)


def test_beats_majority_vote_with_spammers_and_adversaries() -> None:
    crowd = simulate_crowd(n_items=1000, n_workers=60, n_classes=4, votes_per_item=5, spammers=0.3,
                           adversaries=0.1, seed=2)  # fmt: skip
    assert accuracy(run(DEFAULT_METHOD, crowd), crowd) >= accuracy(run("mv", crowd), crowd) + 0.1


def test_one_label_per_item_does_not_collapse_to_one_class() -> None:
    crowd = simulate_crowd(n_items=1000, n_workers=50, n_classes=3, votes_per_item=1, seed=3)
    result = run(DEFAULT_METHOD, crowd)
    assert accuracy(result, crowd) >= accuracy(run("mv", crowd), crowd) - 0.02
    assert np.bincount(result.labels, minlength=3).min() > 100


def test_posteriors_are_calibrated_and_well_formed() -> None:
    crowd = simulate_crowd(n_items=2000, n_workers=80, n_classes=3, votes_per_item=4, seed=4)
    result = run(DEFAULT_METHOD, crowd)
    np.testing.assert_allclose(result.posteriors.sum(axis=1), 1.0)
    assert 0.0 < result.temperature <= 1.0
    assert expected_calibration_error(result.posteriors, crowd.truth) < 0.06


def test_worker_scores_rank_a_known_skill_crowd_and_intervals_cover() -> None:
    crowd = simulate_crowd(n_items=2000, n_workers=40, n_classes=3, votes_per_item=5, accuracy=(0.4, 0.95),
                           spammers=0.1, activity_skew=0.5, seed=5)  # fmt: skip
    result = run(DEFAULT_METHOD, crowd)
    true_accuracy, n = crowd.worker_accuracy()
    keep = n >= 20
    assert spearmanr(result.worker_skill[keep], true_accuracy[keep]).statistic >= 0.8
    low, high = result.worker_skill_interval[keep].T
    assert np.all(low <= result.worker_skill[keep]) and np.all(result.worker_skill[keep] <= high)
    assert ((low <= true_accuracy[keep]) & (true_accuracy[keep] <= high)).mean() >= 0.8
    assert result.worker_evidence is not None and np.all(result.worker_evidence <= n)


def test_pooled_confusion_and_shrunk_matrices() -> None:
    crowd = simulate_crowd(n_items=800, n_workers=200, n_classes=3, votes_per_item=3, seed=6)
    result = run(DEFAULT_METHOD, crowd)
    assert result.pooled_confusion is not None and result.pooled_confusion.shape == (3, 3)
    np.testing.assert_allclose(result.pooled_confusion.sum(axis=1), 1.0)
    np.testing.assert_allclose(result.worker_confusion.sum(axis=2), 1.0)
    # A worker with a single vote is close to the crowd, not a perfect (or useless) worker.
    _, n = crowd.worker_accuracy()
    single = np.flatnonzero(n == 1)
    if single.size:
        gap = np.abs(result.worker_confusion[single] - result.pooled_confusion).max()
        assert gap < 0.25


def test_online_posterior_with_the_temperature_matches_the_batch() -> None:
    crowd = simulate_crowd(n_items=300, n_workers=20, n_classes=3, votes_per_item=4, seed=7)
    result = run(DEFAULT_METHOD, crowd)
    online = batch_posteriors(crowd.items, crowd.workers, crowd.labels, result.worker_confusion,
                              result.class_priors, n_items=crowd.n_items, temperature=result.temperature)  # fmt: skip
    np.testing.assert_allclose(online, result.posteriors, atol=1e-9)
    one = item_posterior(crowd.workers[:4], crowd.labels[:4], result.worker_confusion, result.class_priors,
                         temperature=result.temperature)  # fmt: skip
    np.testing.assert_allclose(one, result.posteriors[0], atol=1e-9)
    with pytest.raises(ValueError, match="temperature"):
        item_posterior(crowd.workers[:4], crowd.labels[:4], result.worker_confusion, result.class_priors, 1.5)


def test_gold_is_clamped() -> None:
    crowd = simulate_crowd(n_items=300, n_workers=20, n_classes=3, votes_per_item=3, seed=8)
    gold = np.arange(0, 300, 10)
    wrong = (crowd.truth[gold] + 1) % 3
    result = run(DEFAULT_METHOD, crowd, gold_items=gold, gold_labels=wrong)
    np.testing.assert_array_equal(result.labels[gold], wrong)
    assert np.all(result.posteriors[gold].max(axis=1) == 1.0)


def test_expected_calibration_error_by_hand() -> None:
    posteriors = np.array([[0.9, 0.1], [0.9, 0.1], [0.6, 0.4], [0.3, 0.7]])
    truth = np.array([0, 1, 0, 1])
    # bins (15 equal-width): 0.9 -> acc 1/2 vs 0.9; 0.6 -> 1 vs 0.6; 0.7 -> 1 vs 0.7
    expected = (2 * abs(0.5 - 0.9) + abs(1 - 0.6) + abs(1 - 0.7)) / 4
    assert expected_calibration_error(posteriors, truth) == pytest.approx(expected)
    assert expected_calibration_error(np.eye(3), np.arange(3)) == 0.0


def test_vote_temperature_is_in_range_and_tempers_overconfident_evidence() -> None:
    rng = np.random.default_rng(0)
    # Each item's "other votes" claim 20 nats for class 0, but the held-out vote agrees only 70 % of the time.
    rest = np.zeros((2000, 2))
    rest[:, 0] = 20.0
    lik = np.where((rng.random(2000) < 0.7)[:, None], [[0.8, 0.2]], [[0.2, 0.8]])
    tau = vote_temperature(rest, lik, np.log([0.5, 0.5]))
    assert 0.0 < tau < 0.5
    assert vote_temperature(np.zeros((0, 2)), np.zeros((0, 2)), np.log([0.5, 0.5])) == 1.0


def test_tiny_crowd_follows_its_votes() -> None:
    # Worker 0 missed its one gold item; both workers then agree on item 0. Maximum likelihood alone could call
    # them both flippers; with the crowd prior's hyperprior the agreeing votes win, with honest doubt.
    result = aggregate(DEFAULT_METHOD, [0, 0, 1], [0, 1, 0], [1, 1, 0], gold_items=[1], gold_labels=[1], n_classes=2)
    assert result.labels.tolist() == [1, 1]
    assert 0.6 < result.posteriors[0, 1] < 1.0
    assert np.all(np.isfinite(result.worker_skill_interval))


def test_empty_and_single_vote_inputs() -> None:
    empty = aggregate(DEFAULT_METHOD, np.array([], dtype=np.int64), [], [], n_items=2, n_workers=1, n_classes=3)
    np.testing.assert_allclose(empty.posteriors, 1 / 3)
    single = aggregate(DEFAULT_METHOD, [0], [0], [0])
    np.testing.assert_allclose(single.posteriors, [[1.0]])


@pytest.mark.parametrize("seed", range(4))
def test_three_volunteers_ten_classes_rank_by_skill(seed):
    """The demo's crowd: three volunteers right 97.7 / 92 / 85.8 % of the time on ten classes, the best one
    arriving late (fewest labels). Plain DS ranked the best last (0.55); an empirical-Bayes prior on one accuracy
    scored all three 0.885 +- 0.006. The best must rank first, with honest (not degenerate) intervals."""
    rng = np.random.default_rng(seed)
    n, k = 200, 10
    truth = rng.integers(0, k, n)
    items, workers, labels = [], [], []
    for w, (acc, count) in enumerate(zip((0.977, 0.92, 0.858), (60, 150, 200), strict=True)):
        for i in rng.choice(n, count, replace=False):
            wrong = rng.choice([c for c in range(k) if c != truth[i]])
            items.append(i)
            workers.append(w)
            labels.append(truth[i] if rng.random() < acc else wrong)
    result = aggregate(DEFAULT_METHOD, np.array(items), np.array(workers), np.array(labels), n_items=n, n_classes=k)
    skill = result.worker_skill
    assert skill.argmax() == 0 and skill[0] - skill.min() > 0.01, skill
    low, high = result.worker_skill_interval.T
    assert np.all(high - low > 0.03) and np.all((low <= skill) & (skill <= high))
