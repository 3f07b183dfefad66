"""Agreement statistics, the budget forecast and the Wilson interval against textbook values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from labeling.algorithms.agreement import (
    expected_extra_votes,
    fleiss_kappa,
    item_agreement,
    krippendorff_alpha_nominal,
    vote_distribution,
)
from labeling.algorithms.intervals import wilson_interval

# Wikipedia "Fleiss' kappa" worked example: 10 subjects, 14 raters, 5 categories, kappa = 0.210.
FLEISS_TABLE = np.array([
    [0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0], [2, 2, 8, 1, 1],
    [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2], [6, 5, 2, 1, 0], [0, 2, 2, 3, 7],
])  # fmt: skip

# Krippendorff (2011) "Computing Krippendorff's alpha-reliability", reliability data with missing values:
# 4 observers x 12 units, nominal alpha = 0.743. 0 marks a missing value.
KRIPPENDORFF_DATA = np.array([
    [1, 2, 3, 3, 2, 1, 4, 1, 2, 0, 0, 0],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, 0, 3],
    [0, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, 0],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, 0],
])  # fmt: skip


def test_fleiss_kappa_wikipedia_example() -> None:
    assert fleiss_kappa(FLEISS_TABLE) == pytest.approx(0.2099, abs=1e-4)
    assert item_agreement(FLEISS_TABLE)[1] == pytest.approx(0.253, abs=1e-3)  # P_2 in the example


def test_fleiss_kappa_variable_raters_and_edge_cases() -> None:
    assert fleiss_kappa(np.array([[3, 0], [0, 2], [2, 0]])) == pytest.approx(1.0)
    # A single-rater item carries no pair and must not change the result.
    assert fleiss_kappa(np.vstack([FLEISS_TABLE, [[0, 1, 0, 0, 0]]])) == pytest.approx(fleiss_kappa(FLEISS_TABLE))
    assert math.isnan(fleiss_kappa(np.array([[1, 0], [0, 1]])))
    assert math.isnan(fleiss_kappa(np.array([[3, 0], [2, 0]])))  # one class only: 0/0


def test_krippendorff_alpha_nominal_reference_value() -> None:
    units = np.tile(np.arange(12), 4)
    values = KRIPPENDORFF_DATA.ravel()
    present = values > 0
    counts = vote_distribution(units[present], values[present] - 1, n_items=12, n_classes=5)
    assert krippendorff_alpha_nominal(counts) == pytest.approx(0.743, abs=5e-4)


def test_alpha_and_kappa_agree_on_perfect_and_chance_data() -> None:
    perfect = np.array([[4, 0, 0], [0, 4, 0], [0, 0, 4]])
    assert krippendorff_alpha_nominal(perfect) == pytest.approx(1.0)
    rng = np.random.default_rng(0)
    noise = vote_distribution(np.repeat(np.arange(3000), 4), rng.integers(0, 3, 12000), n_classes=3)
    assert abs(krippendorff_alpha_nominal(noise)) < 0.02 and abs(fleiss_kappa(noise)) < 0.02


def test_vote_distribution_counts() -> None:
    counts = vote_distribution(np.array([0, 0, 2]), np.array([1, 1, 0]), n_items=3, n_classes=2)
    np.testing.assert_array_equal(counts, [[0, 2], [0, 0], [1, 0]])


def test_expected_extra_votes() -> None:
    post = np.array([[0.5, 0.5], [0.8, 0.2], [0.97, 0.03], [0.3, 0.7]])
    needed = expected_extra_votes(post, target=0.95, worker_accuracy=0.8)
    # (logit(.95) - 0) / ((.8 - .2) * log 4) = 2.944 / 0.832 = 3.54 -> 4 for the coin-flip item.
    assert needed.tolist() == [4, 3, 0, 4]
    assert expected_extra_votes(post, 0.95, worker_accuracy=0.5).tolist() == [50, 50, 0, 50]  # chance workers
    assert np.all(np.diff(expected_extra_votes(np.array([[0.9, 0.1], [0.7, 0.3], [0.55, 0.45]]), 0.99, 0.7)) >= 0)


def test_wilson_interval_known_values() -> None:
    low, high = wilson_interval(5, 10)
    assert (float(low), float(high)) == pytest.approx((0.2366, 0.7634), abs=1e-4)
    low, high = wilson_interval(0, 10)  # upper = z^2 / (n + z^2)
    assert float(low) == 0.0 and float(high) == pytest.approx(1.959964**2 / (10 + 1.959964**2), rel=1e-6)
    low, high = wilson_interval(np.array([0, 10, 0]), np.array([10, 10, 0]), confidence=0.9)
    assert high[1] == 1.0 and low[2] == 0.0 and high[2] == 1.0
    with pytest.raises(ValueError):
        wilson_interval(3, 2)
