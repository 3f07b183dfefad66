"""labeling.algorithms.collusion: the pairwise answer-copying test (no database). Honest pairs, however accurate, are
never called copying across seeds; a pair copying each other's coin flips is caught within ~20 shared items."""

from __future__ import annotations

import numpy as np
import pytest

from labeling.algorithms.collusion import ALPHA, copy_test, independent_agreement, pairs_test


def crowd(seed: int, *, n_items: int = 200, honest: int = 6, acc: float = 0.95, k: int = 2, copiers: bool = True):
    """Votes of `honest` independent workers at accuracy `acc` (errors spread over the wrong classes), each voting on
    about half the items, and (workers `honest`, `honest + 1`) a pair giving one coin flip per item between them."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, k, n_items)
    it, wk, lb = [], [], []
    for i in range(n_items):
        for w in range(honest):
            if rng.random() < 0.5:
                wrong = (truth[i] + rng.integers(1, k)) % k
                it.append(i), wk.append(w), lb.append(truth[i] if rng.random() < acc else wrong)
        flip = rng.integers(0, k)
        for w in (honest, honest + 1) if copiers else ():
            if rng.random() < 0.5:
                it.append(i), wk.append(w), lb.append(flip)
    return np.array(it), np.array(wk), np.array(lb), honest + (2 if copiers else 0)


def test_independent_agreement_formula():
    assert independent_agreement(0.95, 0.95, 2) == pytest.approx(0.95**2 + 0.05**2)
    assert independent_agreement(0.9, 0.8, 5) == pytest.approx(0.72 + 0.1 * 0.2 / 4)
    assert independent_agreement(0.5, 0.5, 2) == pytest.approx(0.5)  # two coin-flippers: a coin's worth


@pytest.mark.parametrize("acc", [0.95, 0.8, 0.7])
@pytest.mark.parametrize("k", [2, 4])
def test_honest_pairs_are_never_called_copying(acc, k):
    worst = 1.0
    for seed in range(25):
        it, wk, lb, n_workers = crowd(seed, acc=acc, k=k, copiers=False)
        tests = pairs_test(it, wk, lb, n_items=200, n_workers=n_workers, k=k)
        assert tests and not any(t.copying for t in tests), [t for t in tests if t.copying]
        worst = min(worst, *(t.p_value for t in tests))
    assert worst > 5 * ALPHA  # a safe margin, not a near miss


def test_honest_pair_agreeing_highly_is_not_tested_when_close_to_the_consensus():
    # 40 of 40 identical answers, but each right on 38 of 40: independent experts agree that much
    expected, p_value, copying = copy_test(shared=40, agreed=40, right_a=38, compared_a=40, right_b=38,
                                           compared_b=40, k=2)  # fmt: skip
    assert not copying and expected > 0.9 and p_value > ALPHA


def test_copying_pair_is_caught_within_about_20_shared_items():
    needed = []
    for seed in range(20):
        it, wk, lb, n_workers = crowd(seed)
        for n in range(10, 200, 2):  # the items arrive in order: test after each two
            m = it < n
            tests = pairs_test(it[m], wk[m], lb[m], n_items=200, n_workers=n_workers, k=2, focus=6)
            pair = [t for t in tests if (t.a, t.b) == (6, 7)]
            if pair and pair[0].copying:
                needed.append(pair[0].shared)
                break
        else:
            needed.append(None)
        # the honest workers beside them are never tested positive
        assert not any(t.copying for t in pairs_test(it, wk, lb, n_items=200, n_workers=n_workers, k=2) if t.b < 6)
    assert None not in needed and max(needed) <= 20 and np.median(needed) <= 15, needed


def test_blocked_votes_make_no_consensus_but_their_author_is_still_tested():
    it, wk, lb, n_workers = crowd(3)
    # worker 7 (a copier) was blocked: its votes do not count in anyone's consensus, yet its pair is tested
    counted = wk != 7
    tests = pairs_test(it, wk, lb, n_items=200, n_workers=n_workers, k=2, counted=counted, focus=6)
    pair = next(t for t in tests if (t.a, t.b) == (6, 7))
    assert pair.copying and pair.agreed == pair.shared
