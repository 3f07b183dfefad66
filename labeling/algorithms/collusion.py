"""Pairwise answer-copying detection: two annotators who agree with each other far more than their own accuracies
allow are not working independently (one copies the other, or both follow one script).

The idea is the psychometric *answer-copying index* (Angoff 1974; Frary, Tideman & Watts 1977, the g2 index;
Wollack 1997, the omega index; van der Linden & Sotaridona 2006): given how well each examinee does on their own,
count the answers two examinees share and ask how likely that many matches would be if they had answered
independently. Crowdsourcing met the same problem as colluding workers (Marcus, Karger, Madden, Miller & Oh 2012,
"Counting with the crowd", sybil/colluder detection by unusual agreement; KhudaBukhsh, Carbonell & Jansen 2014,
"Detecting non-adversarial collusion in crowdsourcing"), where a pair copying each other inflates each other's
agreement with the consensus and so hides from per-worker rules.

The test, for a pair (a, b) and K classes:

* shared items n, identical answers m;
* each worker's accuracy is measured against the consensus of the *other* voters (the pair left out: the copy must
  not vouch for the copier), or against gold; `right / compared`;
* independent workers with accuracies p_a, p_b (errors spread over the K - 1 wrong classes) agree with probability
  q = p_a p_b + (1 - p_a)(1 - p_b) / (K - 1), which grows with both accuracies above chance; so q is bounded by its
  value at the one-sided Wilson *upper* bounds of the two accuracies (a worker below chance counts as at chance --
  they are blocked by the agreement rule anyway). Honest pairs are protected twice: the bound over-states what
  they may agree, and a pair is only tested when both are far from the consensus (accuracy below `far`);
* q is never taken below what two workers answering blind at their own answer rates would agree, sum_l r_a(l) r_b(l)
  (r: each one's share of each answer on the shared items). The one-coin formula assumes balanced classes and
  symmetric errors; on one-sided work (product matching: 88 % "no") two honest workers, or an honest one and one who
  always answers "no", agree far more than it allows while their accuracies against a noisy consensus of two look
  modest, and the replay of that crowd blocked 26 honest workers as copiers. Independent informative workers agree
  at least that much (their answers are positively correlated through the truth); a pair copying coin flips is at
  sum_l r(l)^2 ~ 0.5 and still caught;
* copying when the exact binomial tail P(X >= m | n, q) is below `alpha` (with n >= `min_shared`): both are blocked.

For two workers at chance on yes/no work q >= 0.5, so n identical answers are worth at most 2^-n: ten shared items
before `alpha` can be reached. Sooner than that, a pair whose agreement is merely *suspect* (tail below
`suspect_alpha`) loses the cover each gave the other: each member, and the pair as one annotator (their answers
pooled, an item right when either member is right), is judged by the per-annotator agreement rule against the
consensus of the others, the partner left out (one-sided 95 % Wilson upper bound of the accuracy below FAR_UPPER, or
the crowd-relative limit of hard work -- rules.agreement_block_upper -- on >= FAR_MIN_COMPARED items; the online
rule alone uses a two-sided 95 % bound). The pooled figure is for a pair splitting the work so that neither alone
reaches FAR_MIN_COMPARED: it judges only a member whose own record is that thin and not good so far (some compared
items, point accuracy below FAR_FROM_CONSENSUS). One member's record never condemns the other: pooled with a
long-serving spammer, an honest worker's few items drown (the product replay). An honest worker's accuracy does not
depend on which other honest worker is left out of the consensus, and the two pieces of evidence must meet: an
honest worker at 0.85 fails the bound on 12 items with probability ~0.02 and sits in a suspect pair with probability
<= 0.05, ~0.001 together, below the ~0.005 of the agreement rule on its own (6 of 12).

Two honest workers at 0.95 agree on ~0.905 of their shared items and are at 0.95 on their own: never near the
bound. Two coin-flippers copying each other agree on every shared item and are at ~0.5 on their own (q <= ~0.6):
10-13 shared items suffice. Pure numpy/scipy, no Django.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.stats import binom

from labeling.algorithms.intervals import wilson_interval

ALPHA = 1e-3  # the binomial tail below which a pair's agreement is called copying
ACCURACY_CONFIDENCE = 0.90  # two-sided Wilson level of the accuracy bounds (one-sided 95 % upper)
MIN_SHARED = 8  # shared items before a pair is tested
MIN_COMPARED = 5  # items compared with the others' consensus (or gold), per worker, before a pair is tested
FAR_FROM_CONSENSUS = 0.8  # both workers' accuracy below this (the honest crowd is well above it)
SUSPECT_ALPHA = 0.05  # a suspect pair: each member judged against the consensus without the partner...
FAR_UPPER = 0.8  # ...blocked when the one-sided 95 % Wilson upper bound of that accuracy is below this
FAR_MIN_COMPARED = 12  # ...on at least this many compared items
FAR_CONFIDENCE = 0.90  # two-sided level of that bound: one-sided 95 %
CONSENSUS_MIN_OTHERS = 2  # an item's consensus needs this many votes of others...
CONSENSUS_MIN_SHARE = 0.75  # ...agreeing at least this much on its most frequent class


@dataclass(frozen=True)
class PairTest:
    """One pair's figures: worker indices, shared items and identical answers, each worker's accuracy against the
    others' consensus, the most two independent workers with those accuracies would agree (`expected`), the
    binomial tail of the observed agreement under it, and the verdict."""

    a: int
    b: int
    shared: int
    agreed: int
    right_a: int
    compared_a: int
    right_b: int
    compared_b: int
    expected: float
    p_value: float
    copying: bool
    block_a: bool = False  # copying, or suspect and a (or the pair pooled) far from the others' consensus
    block_b: bool = False


def independent_agreement(acc_a: np.ndarray | float, acc_b: np.ndarray | float, k: int) -> np.ndarray:
    """P(two independent workers give the same answer) = p_a p_b + (1 - p_a)(1 - p_b) / (K - 1)."""
    a, b = np.asarray(acc_a, dtype=np.float64), np.asarray(acc_b, dtype=np.float64)
    return a * b + (1.0 - a) * (1.0 - b) / max(k - 1, 1)


def copy_test(
    *,
    shared: int,
    agreed: int,
    right_a: int,
    compared_a: int,
    right_b: int,
    compared_b: int,
    k: int,
    alpha: float = ALPHA,
    min_shared: int = MIN_SHARED,
    min_compared: int = MIN_COMPARED,
    far: float = FAR_FROM_CONSENSUS,
    blind: float = 0.0,
) -> tuple[float, float, bool]:
    """(expected, p_value, copying) for one pair (see the module docstring); `blind` is the pair's agreement when
    answering blind at their own answer rates (`blind_agreement`), the least `expected` may be."""
    _, high = wilson_interval(np.array([right_a, right_b]), np.array([compared_a, compared_b]), ACCURACY_CONFIDENCE)
    chance = 1.0 / max(k, 2)
    upper = np.maximum(high, chance)
    expected = max(float(independent_agreement(upper[0], upper[1], k)), float(blind))
    p_value = float(binom.sf(agreed - 1, shared, expected)) if shared else 1.0
    tested = (
        shared >= min_shared
        and min(compared_a, compared_b) >= min_compared
        and right_a / compared_a < far
        and right_b / compared_b < far
    )
    return expected, p_value, bool(tested and p_value < alpha)


def blind_agreement(answers_a: np.ndarray, answers_b: np.ndarray, k: int) -> float:
    """sum_l r_a(l) r_b(l): how often two workers answering blind, each at their own rate of each answer (r, from
    their answers on the same items), give the same answer."""
    n = max(len(answers_a), 1)
    rate_a = np.bincount(np.asarray(answers_a, np.int64), minlength=k) / n
    rate_b = np.bincount(np.asarray(answers_b, np.int64), minlength=k) / n
    return float(rate_a @ rate_b)


def _onehot_counts(matrix: np.ndarray, k: int) -> np.ndarray:
    """counts[item, class] of the non-missing (>= 0) entries of an items x workers label matrix."""
    counts = np.zeros((matrix.shape[0], k), dtype=np.int64)
    rows, cols = np.nonzero(matrix >= 0)
    np.add.at(counts, (rows, matrix[rows, cols]), 1)
    return counts


def _consensus(others: np.ndarray, gold: np.ndarray) -> np.ndarray:
    """Per item the class of the others' consensus (or the gold label), -1 where there is none."""
    total = others.sum(axis=1)
    top = others.argmax(axis=1)
    share = others.max(axis=1) / np.maximum(total, 1)
    cons = np.where((total >= CONSENSUS_MIN_OTHERS) & (share >= CONSENSUS_MIN_SHARE), top, -1)
    return np.where(gold >= 0, gold, cons)


def pairs_test(
    items: np.ndarray,
    workers: np.ndarray,
    labels: np.ndarray,
    *,
    n_items: int,
    n_workers: int,
    k: int,
    gold: np.ndarray | None = None,
    counted: np.ndarray | None = None,
    focus: int | None = None,
    alpha: float = ALPHA,
    suspect_alpha: float = SUSPECT_ALPHA,
    min_shared: int = MIN_SHARED,
    far_upper: Callable[[], float] = lambda: FAR_UPPER,
) -> list[PairTest]:
    """Test every pair with >= `min_shared` shared items (only the pairs of `focus` when given).

    `items`, `workers`, `labels`: one entry per vote (indices in [0, n_items), [0, n_workers), [0, k)), one vote per
    (item, worker); `gold[item]` the gold label or -1; `counted[vote]` False for a vote that may not make a
    consensus (a blocked author's: still tested as one of a pair). Returns the tested pairs, copying or not, a < b."""
    matrix, keep, counts, gold_of = _build(items, workers, labels, n_items, n_workers, k, gold, counted)
    present = (matrix >= 0).astype(np.int64)
    shared = present.T @ present
    same = np.zeros_like(shared)
    for c in range(k):
        hit = (matrix == c).astype(np.int64)
        same += hit.T @ hit
    if focus is None:
        a_idx, b_idx = np.nonzero(np.triu(shared >= min_shared, k=1))
    else:
        b_idx = np.flatnonzero(shared[focus] >= min_shared)
        b_idx = b_idx[b_idx != focus]
        a_idx = np.full(b_idx.shape, focus)
    out = []
    for a, b in zip(a_idx.tolist(), b_idx.tolist(), strict=True):
        a, b = min(a, b), max(a, b)
        cons = _consensus_without(matrix, keep, counts, gold_of, (a, b))
        figures = [*_accuracy(matrix, cons, a), *_accuracy(matrix, cons, b)]
        # the pair as one annotator: each item either answered once, right when either member is right
        seen = ((matrix[:, a] >= 0) | (matrix[:, b] >= 0)) & (cons >= 0)
        hit = (matrix[seen][:, [a, b]] == cons[seen, None]).any(axis=1)
        pooled = far_without_partner(int(hit.sum()), int(seen.sum()), far_upper)
        n, m = int(shared[a, b]), int(same[a, b])
        both = (matrix[:, a] >= 0) & (matrix[:, b] >= 0)
        expected, p_value, copying = copy_test(
            shared=n, agreed=m, right_a=figures[0], compared_a=figures[1], right_b=figures[2],
            compared_b=figures[3], k=k, alpha=alpha, min_shared=min_shared,
            blind=blind_agreement(matrix[both, a], matrix[both, b], k),
        )  # fmt: skip
        # On hard work "far from the others" is judged against the crowd's own agreement (far_upper): there honest
        # experts agree with each other beyond what the one-coin formula allows (their errors fall on the same hard
        # items, on neighbouring grades) while a consensus of weaker workers puts both at ~0.6 (the web replay).
        copying = copying and max(figures[0] / figures[1], figures[2] / figures[3]) < far_upper()
        # Suspicion is corrected for the number of partners tested at once (Bonferroni): a worker is tested against
        # every co-voter at each check, and at 0.05 each an honest one met a "suspect" partner at most checks; the
        # second piece of evidence (their record against a consensus of the others) is noisy on sparse work, and the
        # adaptive replay of the product crowd blocked 16 honest workers on that pair of weak signals.
        suspect = p_value < suspect_alpha / max(len(a_idx), 1)
        blocks = [copying or (suspect and ((pooled and _pooled_judges(r, c, far_upper)) or
                                           far_without_partner(r, c, far_upper)))
                  for r, c in (figures[:2], figures[2:])]  # fmt: skip
        out.append(PairTest(a, b, n, m, *figures, expected, p_value, copying, *blocks))
    return out


def _pooled_judges(right: int, compared: int, far_upper: Callable[[], float]) -> bool:
    """Whether the pair's pooled record may judge a member: their own is too thin to judge them alone and not good
    so far (see the module docstring)."""
    return 0 < compared < FAR_MIN_COMPARED and right / compared < min(FAR_FROM_CONSENSUS, far_upper())


def far_without_partner(right: int, compared: int, upper: Callable[[], float] = lambda: FAR_UPPER) -> bool:
    """The agreement rule on the accuracy measured with the partner left out of the consensus; `upper` gives its
    limit (FAR_UPPER, lowered on hard work: rules.agreement_block_upper), asked for only when the bound is below
    FAR_UPPER."""
    if compared < FAR_MIN_COMPARED:
        return False
    _, high = wilson_interval(right, compared, FAR_CONFIDENCE)
    return float(high) < FAR_UPPER and float(high) < upper()


def _build(items, workers, labels, n_items, n_workers, k, gold, counted):
    """(items x workers label matrix with -1 for no vote, which votes count, counted votes per item and class,
    gold label per item or -1)."""
    rows, cols = np.asarray(items, dtype=np.int64), np.asarray(workers, dtype=np.int64)
    matrix = np.full((n_items, n_workers), -1, dtype=np.int64)
    matrix[rows, cols] = np.asarray(labels, np.int64)
    gold_of = np.full(n_items, -1, dtype=np.int64) if gold is None else np.asarray(gold, dtype=np.int64)
    keep = np.ones(matrix.shape, dtype=bool)
    if counted is not None:
        keep[rows, cols] = np.asarray(counted, bool)
    return matrix, keep, _onehot_counts(np.where(keep, matrix, -1), k), gold_of


def _consensus_without(matrix, keep, counts, gold_of, left_out) -> np.ndarray:
    """The consensus of each item without the votes of `left_out` (or its gold label), -1 where there is none."""
    others = counts.copy()
    for w in left_out:
        voted = np.flatnonzero((matrix[:, w] >= 0) & keep[:, w])
        others[voted, matrix[voted, w]] -= 1
    return _consensus(others, gold_of)


def _accuracy(matrix, cons, w) -> tuple[int, int]:
    seen = (matrix[:, w] >= 0) & (cons >= 0)
    return int((matrix[seen, w] == cons[seen]).sum()), int(seen.sum())


def accuracy_against_others(
    items: np.ndarray,
    workers: np.ndarray,
    labels: np.ndarray,
    *,
    n_items: int,
    n_workers: int,
    k: int,
    worker: int,
    gold: np.ndarray | None = None,
    counted: np.ndarray | None = None,
) -> tuple[int, int]:
    """(right, compared): the worker's answers against gold and the consensus of the others *now* (the online
    agreement rule compares each answer with the consensus before it, so an item answered early is never compared;
    this is the same rule in hindsight)."""
    matrix, keep, counts, gold_of = _build(items, workers, labels, n_items, n_workers, k, gold, counted)
    return _accuracy(matrix, _consensus_without(matrix, keep, counts, gold_of, (worker,)), worker)
