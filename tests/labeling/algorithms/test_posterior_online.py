"""Online posteriors (labeling.algorithms.posterior) against the aggregation E-step."""

from __future__ import annotations

import numpy as np
import pytest

from labeling.algorithms.aggregation import aggregate
from labeling.algorithms.aggregation.base import e_step, prepare
from labeling.algorithms.posterior import (
    add_vote,
    batch_posteriors,
    item_posterior,
    posterior_with_extra_voter,
    symmetric_confusion,
)


@pytest.fixture
def model() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    items = np.repeat(np.arange(200), 5)
    workers = rng.integers(0, 15, items.size)
    labels = rng.integers(0, 3, items.size)
    result = aggregate("dawid_skene", items, workers, labels, n_items=201)
    return items, workers, labels, result.worker_confusion, result.class_priors


def test_item_posterior_equals_the_batch_e_step(model) -> None:
    items, workers, labels, confusion, priors = model
    expected, _ = e_step(prepare(items, workers, labels, n_items=201, n_workers=15, n_classes=3), confusion, priors)
    for item in (0, 17, 199):
        mine = items == item
        np.testing.assert_allclose(item_posterior(workers[mine], labels[mine], confusion, priors), expected[item],
                                   rtol=1e-12, atol=1e-15)  # fmt: skip
    batch = batch_posteriors(items, workers, labels, confusion, priors, n_items=201)
    np.testing.assert_allclose(batch, expected, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(batch[200], priors)  # no votes -> prior


def test_adding_votes_one_at_a_time_equals_scoring_them_together(model) -> None:
    items, workers, labels, confusion, priors = model
    mine = np.flatnonzero(items == 3)
    posterior = priors.copy()
    for j in mine:
        posterior = add_vote(posterior, confusion[workers[j]], labels[j])
    np.testing.assert_allclose(posterior, item_posterior(workers[mine], labels[mine], confusion, priors), rtol=1e-10)


def test_many_confident_votes_do_not_underflow() -> None:
    conf = symmetric_confusion(np.full(3, 0.99), 2)
    post = item_posterior(np.zeros(2000, dtype=np.int64), np.ones(2000, dtype=np.int64), conf, np.array([0.5, 0.5]))
    assert np.all(np.isfinite(post)) and post[1] == pytest.approx(1.0)


def test_symmetric_confusion_shape_and_rows() -> None:
    conf = symmetric_confusion(0.7, 3)
    np.testing.assert_allclose(conf, [[0.7, 0.15, 0.15], [0.15, 0.7, 0.15], [0.15, 0.15, 0.7]])
    assert symmetric_confusion(np.array([0.6, 0.9]), 4).shape == (2, 4, 4)


def test_extra_voter_is_bounded_and_moves_towards_its_prediction() -> None:
    posterior = np.array([0.6, 0.4])
    perfect_model = np.eye(2) * 0.98 + 0.01  # 98% accurate classifier
    says_one = np.array([0.0, 1.0])
    unbounded = posterior_with_extra_voter(posterior, says_one, perfect_model, max_weight=100.0)
    # log-odds move by log(.99 / .01) = 4.595 nats without a bound
    expected_odds = (0.4 / 0.6) * (0.99 / 0.01)
    assert unbounded[1] / unbounded[0] == pytest.approx(expected_odds)
    bounded = posterior_with_extra_voter(posterior, says_one, perfect_model, max_weight=1.0)
    assert np.log(bounded[1] / bounded[0]) - np.log(0.4 / 0.6) == pytest.approx(1.0)
    np.testing.assert_allclose(posterior_with_extra_voter(posterior, says_one, perfect_model, 0.0), posterior)
    # An uninformative model (uniform confusion) changes nothing whatever it says.
    np.testing.assert_allclose(posterior_with_extra_voter(posterior, says_one, np.ones((2, 2)), 5.0), posterior)
    # Batched: one row per item.
    batch = posterior_with_extra_voter(np.tile(posterior, (3, 1)), np.tile(says_one, (3, 1)), perfect_model, 1.0)
    np.testing.assert_allclose(batch, np.tile(bounded, (3, 1)))
