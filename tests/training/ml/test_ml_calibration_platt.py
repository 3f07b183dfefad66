"""Platt scaling of a timid score (training.ml.calibration): pure numpy."""

from __future__ import annotations

import numpy as np

from training.ml.calibration import fit_platt, platt_leave_one_out, platt_probability


def test_platt_moves_the_threshold_to_where_gold_says():
    rng = np.random.default_rng(0)
    # A timid score: "yes" items have synset probability ~0.2, "no" items ~0.01; 0.5 would call all of them no.
    yes = np.log(rng.uniform(0.08, 0.4, 40))
    no = np.log(rng.uniform(0.001, 0.05, 40))
    scores, truth = np.concatenate([yes, no]), np.r_[np.ones(40), np.zeros(40)]
    assert (np.exp(scores) > 0.5).sum() == 0
    a, b = fit_platt(scores, truth)
    assert a > 0
    p = platt_probability(scores, a, b)
    assert ((p > 0.5) == truth.astype(bool)).mean() == 1.0
    loo = platt_leave_one_out(scores, truth)
    assert ((loo > 0.5) == truth.astype(bool)).mean() >= 0.95
    assert np.all((loo > 0) & (loo < 1))


def test_separable_scores_stay_finite_and_noise_stays_near_half():
    scores, truth = np.array([-3.0, -2.0, 1.0, 2.0]), np.array([0, 0, 1, 1])
    a, b = fit_platt(scores, truth)
    assert np.isfinite([a, b]).all() and a > 0
    rng = np.random.default_rng(1)
    noise = rng.normal(size=200)
    p = platt_probability(noise, *fit_platt(noise, rng.integers(0, 2, 200)))
    assert np.all(np.abs(p - 0.5) < 0.2)  # an uninformative score gives an uninformative voter
