"""The split algorithm, without a database."""

import numpy as np
import pytest

from labeling.algorithms.splits import stratified_group_split, validate_fractions


def _data(n=600, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, size=n)
    groups = np.arange(n)
    # every 10th image joins the cluster of the previous image (near-duplicates)
    for i in range(1, n, 10):
        groups[i] = groups[i - 1]
        labels[i] = labels[i - 1]
    return labels, groups


def test_same_seed_same_split_and_independent_of_row_order():
    labels, groups = _data()
    a = stratified_group_split(labels, groups, (0.8, 0.1, 0.1), seed=3)
    b = stratified_group_split(labels, groups, (0.8, 0.1, 0.1), seed=3)
    assert np.array_equal(a, b)
    perm = np.random.default_rng(1).permutation(len(labels))
    c = stratified_group_split(labels[perm], groups[perm], (0.8, 0.1, 0.1), seed=3)
    assert np.array_equal(c, a[perm])


def test_different_seed_different_split():
    labels, groups = _data()
    a = stratified_group_split(labels, groups, seed=0)
    b = stratified_group_split(labels, groups, seed=1)
    assert (a != b).sum() > 20


def test_clusters_never_straddle_and_fractions_hold_per_class():
    labels, groups = _data()
    split = stratified_group_split(labels, groups, (0.7, 0.2, 0.1), seed=5)
    for g in np.unique(groups):
        assert len(set(split[groups == g].tolist())) == 1
    for k in np.unique(labels):
        frac = np.bincount(split[labels == k], minlength=3) / (labels == k).sum()
        assert np.allclose(frac, [0.7, 0.2, 0.1], atol=0.04), frac


def test_big_cluster_goes_to_one_split():
    labels = np.zeros(20, dtype=int)
    groups = np.array([0] * 10 + list(range(1, 11)))
    split = stratified_group_split(labels, groups, seed=2)
    assert len(set(split[:10].tolist())) == 1


@pytest.mark.parametrize("bad", [(0.5, 0.5), (0.8, 0.1, 0.2), (0, 0.5, 0.5), (1.2, -0.1, -0.1), (float("nan"), 0, 1)])
def test_invalid_fractions(bad):
    with pytest.raises(ValueError):
        validate_fractions(bad)


def test_empty_input():
    assert stratified_group_split([], [], seed=0).size == 0
