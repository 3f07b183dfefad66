"""Choosing the aggregation model per crowd by evidence that measures truth (issue 23; see choice.md).

Candidates, simplest first: majority vote (as a model: one shared accuracy, uniform class priors), one-coin
workers and full confusion rows under the crowd-level prior (pooled_ds.py), MACE and plain Dawid-Skene.

Evidence is cross-fitted: items are split in two folds by a hash of their index; every candidate is fitted on one
fold (that fold's gold clamped) and its worker models predict the other fold, so nothing is scored by a fit that
saw it. Two scores come out of that, and both are paired across candidates and bootstrapped over items:

* gold (when the project has any): share of the other fold's gold items predicted right;
* without gold, chance-corrected agreement with held-out votes: each vote is predicted from the *other* votes of
  its item (its own term removed) and compared with the vote; per worker, the agreement expected by chance from
  the worker's label shares and the prediction's label shares is subtracted (Cohen's kappa numerator). For any
  informative worker that is monotone in the prediction's accuracy whatever the worker's bias; raw agreement is
  not: a crowd that says "yes" too often rewards an aggregator that says "yes" too often.

Rule: the unsupervised choice is the simplest candidate that the best candidate does not beat by more than chance
(P(best better) < CONFIDENCE over the bootstrap; for majority vote CONFIDENCE_MV, except with two classes, where
the score is proven to rank predictions by truth and CONFIDENCE suffices: vote_mv_level); majority vote comes first,
so leaving it needs evidence. With gold, a rival replaces that choice only when it beats it on held-out gold by more
than chance, and then the simplest candidate not beaten by the gold winner is taken. Last, a guard: the final fit
(all data, all gold) must not disagree with majority vote on more items than the cross-fitted predictions did (plus
slack); if it does, EM found a basin the evidence never saw, and the next simpler candidate is taken, down to
majority vote.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
from scipy.special import ndtr

from .base import PROB_FLOOR, CrowdData, prepare

# Simplest first (effective parameters per worker): the order in which ties are broken. The pooled model has a
# full confusion matrix per worker but shrunk towards the crowd's, so fewer effective parameters than MACE's
# unshrunk accuracy + label strategy per worker, and than plain Dawid-Skene's.
CANDIDATES = ("mv", "one_coin", "pooled", "mace", "ds")
BOOTSTRAP = 100  # Poisson bootstrap replicates over items
CONFIDENCE = 0.95  # one-sided: P(a rival is better) needed to count as better, between worker models
# ... and to leave majority vote on gold, and on votes with more than two classes (vote_mv_level): stricter,
# because the rival tested is the best of four (the winner's curse; 1 - 0.05 / 4 ~ 0.99) and because leaving it is
# what can cost accuracy. Measured: at 0.95 a 5-class crowd with 3 votes per item and ~8 votes per worker
# (simulated) left majority vote on vote evidence for a model 8.6 points worse; on gold, 30 gold items of bluebirds
# let one-coin (5 points below MV) through in 3 of 20 draws. With two classes on votes, 0.95 (issue 23: at 0.99
# bluebirds, P = 0.964, kept majority vote 13.9 points below Dawid-Skene; choice.md).
CONFIDENCE_MV = 0.99
DISAGREEMENT_SLACK = 0.02  # the guard: final-fit disagreement with MV may exceed the cross-fitted one by this + 2x
MIN_HELD_VOTES = 20  # fewer held-out votes than this (and no gold): no evidence, majority vote


def item_hash(n_items: int) -> np.ndarray:
    """(n_items,) uint64 splitmix64 hash of each item index: a fixed pseudo-random split that is independent of
    any random stream a caller may have used to make the data (a numpy seed-0 stream used both to draw the
    truth and to split would put all of one class in one fold), and of the order of the votes."""
    z = np.arange(n_items, dtype=np.uint64) + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def item_fold(n_items: int) -> np.ndarray:
    """(n_items,) bool: the two cross-fitting folds (the hash's lowest bit)."""
    return (item_hash(n_items) & np.uint64(1)).astype(bool)


def item_uniform(n_items: int) -> np.ndarray:
    """(n_items,) float in [0, 1) from the hash's top 53 bits (for samples of items)."""
    return (item_hash(n_items) >> np.uint64(11)).astype(np.float64) / float(2**53)


def subset(data: CrowdData, votes: np.ndarray, gold: np.ndarray) -> CrowdData:
    """The same coding (items, workers, classes) restricted to some votes and gold items."""
    return prepare(
        data.items[votes], data.workers[votes], data.labels[votes], n_items=data.n_items, n_workers=data.n_workers,
        n_classes=data.n_classes, gold_items=data.gold_items[gold], gold_labels=data.gold_labels[gold],
    )  # fmt: skip


@dataclass
class Evidence:
    """Cross-fitted predictions of every candidate, and the choice made from them."""

    held_votes: int = 0
    gold_scored: int = 0
    kappa: dict[str, float] = field(default_factory=dict)  # chance-corrected agreement with held-out votes
    gold_accuracy: dict[str, float] = field(default_factory=dict)
    disagreement: dict[str, float] = field(default_factory=dict)  # cross-fitted label share != MV's
    p_better: dict[str, float] = field(default_factory=dict)  # P(the unsupervised best beats this), bootstrap
    p_gold_better: dict[str, float] = field(default_factory=dict)  # P(the gold winner beats this), bootstrap

    def as_dict(self) -> dict:
        r = {k: round(v, 4) for k, v in self.kappa.items()}
        return {
            "held_out_votes": self.held_votes,
            "gold_scored": self.gold_scored,
            "kappa": r,
            "gold_accuracy": {k: round(v, 4) for k, v in self.gold_accuracy.items()},
            "disagreement_with_mv": {k: round(v, 4) for k, v in self.disagreement.items()},
            "p_best_beats": {k: round(v, 3) for k, v in self.p_better.items()},
            "p_gold_best_beats": {k: round(v, 3) for k, v in self.p_gold_better.items()},
        }


def _by_vote(confusion: np.ndarray) -> np.ndarray:
    w, k, _ = confusion.shape
    return np.log(np.maximum(confusion, PROB_FLOOR)).transpose(0, 2, 1).reshape(w * k, k)


def _tie_shares(scores: np.ndarray) -> np.ndarray:
    """(n, K): 1 / (number of tied maxima) on each maximal class: a random tie-break's label distribution."""
    top = (scores >= scores.max(axis=1, keepdims=True) - 1e-9).astype(np.float64)
    return top / top.sum(axis=1, keepdims=True)


def _tie_credit(scores: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """1 / (number of tied maxima) when `truth` is among them, else 0: a random tie-break's expected credit."""
    return _tie_shares(scores)[np.arange(truth.size), truth]


def _first_max(scores: np.ndarray) -> np.ndarray:
    return scores.argmax(axis=1)


@dataclass
class _Pred:
    """Per candidate, over the held-out votes and the held-out gold items (both folds concatenated)."""

    agree: list[np.ndarray] = field(default_factory=list)
    loo: list[np.ndarray] = field(default_factory=list)  # (n, K) the held-out prediction, ties split evenly
    gold: list[np.ndarray] = field(default_factory=list)
    label: list[np.ndarray] = field(default_factory=list)  # forward label of every held-out item with votes


def cross_fit(data: CrowdData, fit, names: tuple[str, ...]) -> tuple[dict[str, _Pred], dict[str, np.ndarray]]:
    """fit(name, train CrowdData) -> (confusion, priors). Returns per-candidate predictions and the shared
    per-vote / per-gold arrays (item, worker, label; gold item)."""
    fold = item_fold(data.n_items)
    votes_per_item = np.bincount(data.items, minlength=data.n_items)
    gold_fold = fold[data.gold_items]
    preds = {n: _Pred() for n in names}
    shared: dict[str, list[np.ndarray]] = {"item": [], "worker": [], "label": [], "gold_item": [], "voted": []}
    k = data.n_classes
    for side in (True, False):
        train_votes = fold[data.items] == side
        train = subset(data, train_votes, gold_fold == side)
        test_votes = ~train_votes
        test = subset(data, test_votes, np.zeros(data.gold_items.size, dtype=bool))
        held = test_votes & (votes_per_item[data.items] >= 2)
        it, wk, lb = data.items[held], data.workers[held], data.labels[held]
        gold_it, gold_lb = data.gold_items[gold_fold != side], data.gold_labels[gold_fold != side]
        voted = np.flatnonzero((fold != side) & (votes_per_item > 0))
        shared["item"].append(it)
        shared["worker"].append(wk)
        shared["label"].append(lb)
        shared["gold_item"].append(gold_it)
        shared["voted"].append(voted)
        counts = test.vote_counts()
        for name in names:
            if name == "mv":
                summed = counts
                rest = counts[it] - np.eye(k)[lb]
            else:
                confusion, priors = fit(name, train)
                by_vote = _by_vote(confusion)
                summed = test.design @ by_vote + np.log(np.maximum(priors, PROB_FLOOR))
                rest = summed[it] - by_vote[wk * k + lb]
            p = preds[name]
            shares = _tie_shares(rest)
            p.agree.append(shares[np.arange(lb.size), lb])
            p.loo.append(shares)
            p.gold.append(_tie_credit(summed[gold_it], gold_lb) if gold_it.size else np.zeros(0))
            p.label.append(_first_max(summed[voted]))
    flat = {key: np.concatenate(v) for key, v in shared.items()}
    return {n: _Pred(*([np.concatenate(getattr(p, f))] for f in ("agree", "loo", "gold", "label"))) for n, p in
            preds.items()}, flat  # fmt: skip


def _poisson_weights(n_items: int, replicates: int) -> np.ndarray:
    """(replicates + 1, n_items): row 0 all ones (the point estimate), then Poisson(1) bootstrap weights."""
    rng = np.random.default_rng(20231)
    return np.vstack([np.ones((1, n_items)), rng.poisson(1.0, (replicates, n_items)).astype(np.float64)])


def _by_item(items: np.ndarray, cols: np.ndarray, values: np.ndarray, n_items: int, n_cols: int) -> sp.csr_matrix:
    """Sparse (n_items, n_cols) sums of per-vote values: bootstrap weights over items then aggregate them by one
    sparse product (weights @ matrix) per statistic."""
    keep = values != 0
    return sp.csr_matrix((values[keep], (items[keep], cols[keep])), shape=(n_items, n_cols))


def _weighted(weights: np.ndarray, matrix: sp.csr_matrix) -> np.ndarray:
    """weights (R, n_items) @ matrix (n_items, C) as a dense (R, C) array, through the sparse side."""
    return np.asarray((matrix.T @ weights.T).T)


@dataclass(frozen=True)
class _KappaBase:
    """The per-item statistics every candidate shares: votes and given labels per worker."""

    total: np.ndarray  # (R, W) bootstrap-weighted held-out votes per worker
    given: np.ndarray  # (R, W, K) ... per worker and given label


def _kappa_base(shared: dict[str, np.ndarray], weights: np.ndarray, n_items: int, n_workers: int,
                k: int) -> _KappaBase:  # fmt: skip
    it, wk, lb = shared["item"], shared["worker"], shared["label"]
    ones = np.ones(it.size)
    total = _weighted(weights, _by_item(it, wk, ones, n_items, n_workers))
    given = _weighted(weights, _by_item(it, wk * k + lb, ones, n_items, n_workers * k))
    given = given.reshape(weights.shape[0], n_workers, k)  # explicit rows: -1 is ambiguous with no workers
    return _KappaBase(total, given)


def kappa_replicates(pred: _Pred, shared: dict[str, np.ndarray], weights: np.ndarray, base: _KappaBase,
                     worker_weight: np.ndarray | None = None) -> np.ndarray:  # fmt: skip
    """Chance-corrected agreement (sum over workers of observed minus chance agreement, over all held-out votes)
    under each row of item weights; workers weighted by `worker_weight` (default 1)."""
    it, wk = shared["item"], shared["worker"]
    n_items, (_, n_workers, k) = weights.shape[1], base.given.shape
    loo = pred.loo[0]
    agree = _weighted(weights, _by_item(it, wk, pred.agree[0], n_items, n_workers))
    rows, cls = np.nonzero(loo)  # mostly one class per vote (ties split)
    predicted = _weighted(weights, _by_item(it[rows], wk[rows] * k + cls, loo[rows, cls], n_items, n_workers * k))
    pl = predicted.reshape(weights.shape[0], n_workers, k)
    total = base.total
    chance = np.divide((base.given * pl).sum(axis=2), total, out=np.zeros_like(total), where=total > 0)
    omega = np.ones(n_workers) if worker_weight is None else worker_weight
    return ((agree - chance) * omega).sum(axis=1) / np.maximum((total * omega).sum(axis=1), 1e-12)


def kappa_per_worker(pred: _Pred, shared: dict[str, np.ndarray], n_workers: int, k: int) -> np.ndarray:
    """(n_workers,) each worker's observed minus chance agreement with the prediction, per held-out vote."""
    wk, lb, loo = shared["worker"], shared["label"], pred.loo[0]
    total = np.bincount(wk, minlength=n_workers).astype(np.float64)
    agree = np.bincount(wk, weights=pred.agree[0], minlength=n_workers)
    pw = np.bincount(wk * k + lb, minlength=n_workers * k).reshape(n_workers, k).astype(np.float64)
    pl = np.zeros((n_workers, k))
    np.add.at(pl, wk, loo)
    chance = np.divide((pw * pl).sum(axis=1), total, out=np.zeros_like(total), where=total > 0)
    return np.divide(agree - chance, total, out=np.zeros_like(total), where=total > 0)


def gold_replicates(pred: _Pred, shared: dict[str, np.ndarray], weights: np.ndarray) -> np.ndarray:
    g = shared["gold_item"]
    w = weights[:, g]
    return (w * pred.gold[0]).sum(axis=1) / np.maximum(w.sum(axis=1), 1e-12)


def _p_better(scores: dict[str, np.ndarray], winner: str) -> dict[str, float]:
    """P(`winner` scores above each candidate): the normal approximation to the paired bootstrap, Phi(point
    difference / standard deviation of the replicate differences); 0 for the winner itself."""
    out = {}
    for n, s in scores.items():
        if n == winner:
            out[n] = 0.0
            continue
        diff = scores[winner] - s
        sd = float(diff[1:].std())
        point = float(diff[0])
        out[n] = float(ndtr(point / sd)) if sd > 1e-12 else float(point > 1e-12)
    return out


def _needed(name: str, names: tuple[str, ...], mv_level: float = CONFIDENCE_MV) -> float:
    return mv_level if name == names[0] else CONFIDENCE


def _simplest_not_beaten(scores: dict[str, np.ndarray], names: tuple[str, ...],
                         mv_level: float = CONFIDENCE_MV) -> tuple[str, str, dict[str, float]]:  # fmt: skip
    best = max(names, key=lambda n: (scores[n][0], -names.index(n)))
    p = _p_better(scores, best)
    for n in names:
        if p[n] < _needed(n, names, mv_level):
            return n, best, p
    return best, best, p


def vote_mv_level(n_classes: int) -> float:
    """P needed to leave majority vote on the held-out-vote evidence (see CONFIDENCE_MV and choice.md): with two
    classes the chance-corrected agreement of a held-out vote with a prediction is, for conditionally independent
    workers, 2 pi (1 - pi) x the worker's Youden J x the prediction's Youden J, so the score ranks predictions by
    truth whatever the workers' biases and majority vote needs no extra margin over the rivals' 95 %. With more
    classes no such identity holds (a prediction that shares the crowd's systematic confusions agrees more with
    it), and the 99 % stays."""
    return CONFIDENCE if n_classes == 2 else CONFIDENCE_MV


@dataclass(frozen=True)
class Choice:
    model: str
    reason: str
    evidence: Evidence
    disagreement_limit: dict[str, float]  # per candidate: the most disagreement with MV the evidence supports


def choose(data: CrowdData, fit, names: tuple[str, ...] = CANDIDATES) -> Choice:
    """Pick a candidate by cross-fitted evidence (see the module docstring)."""
    evidence = Evidence()
    if data.items.size == 0:  # e.g. every item finished by a proven model alone (min votes 0): no human vote
        return Choice("mv", "no votes: nothing to compare models by", evidence, {})
    held_possible = int((np.bincount(data.items, minlength=data.n_items)[data.items] >= 2).sum())
    if held_possible < MIN_HELD_VOTES and data.gold_items.size < 2:
        reason = f"only {held_possible} votes on items with another vote and no gold: nothing to compare models by"
        return Choice("mv", reason, evidence, {})
    preds, shared = cross_fit(data, fit, names)
    evidence.held_votes = int(shared["item"].size)
    evidence.gold_scored = int(shared["gold_item"].size)
    weights = _poisson_weights(data.n_items, BOOTSTRAP)
    mv_label = preds["mv"].label[0] if "mv" in preds else None
    limits = {}
    for n in names:
        share = float((preds[n].label[0] != mv_label).mean()) if mv_label is not None and mv_label.size else 0.0
        evidence.disagreement[n] = share
        limits[n] = 2.0 * share + DISAGREEMENT_SLACK
    # Held-out votes of uninformative workers (spammers) say nothing about which prediction is right and only add
    # noise: each worker's votes are weighted by how far they agree with the majority of the others beyond chance
    # (their own kappa numerator against majority vote's held-out prediction, clipped at 0). The same weights for
    # every candidate, so the comparison stays paired.
    omega = None
    if "mv" in preds:
        own = kappa_per_worker(preds["mv"], shared, data.n_workers, data.n_classes)
        omega = np.maximum(own, 0.0) if np.any(own > 0) else None
    base = _kappa_base(shared, weights, data.n_items, data.n_workers, data.n_classes)
    kappas = {n: kappa_replicates(preds[n], shared, weights, base, omega) for n in names}
    evidence.kappa = {n: float(v[0]) for n, v in kappas.items()}
    if evidence.held_votes >= MIN_HELD_VOTES:
        mv_level = vote_mv_level(data.n_classes)
        model, best, evidence.p_better = _simplest_not_beaten(kappas, names, mv_level)
        if model == best == names[0]:
            reason = f"no model agrees with held-out votes better than {names[0]} (chance-corrected)"
        elif model == best:
            reason = f"{model} agrees best with held-out votes (kappa {evidence.kappa[model]:.3f}), beyond chance"
        else:
            reason = (f"{best} agrees best with held-out votes but beats {model} only "
                      f"with probability {evidence.p_better[model]:.0%} (bootstrap; "
                      f"{_needed(model, names, mv_level):.0%} needed): the simpler {model} is kept")  # fmt: skip
    else:
        model, reason = names[0], f"only {evidence.held_votes} held-out votes: no evidence without gold"
    if evidence.gold_scored:
        golds = {n: gold_replicates(preds[n], shared, weights) for n in names}
        evidence.gold_accuracy = {n: float(v[0]) for n, v in golds.items()}
        gold_best = max(names, key=lambda n: (golds[n][0], -names.index(n)))
        evidence.p_gold_better = _p_better(golds, gold_best)
        if evidence.p_gold_better[model] >= _needed(model, names):
            previous = model
            model = next(n for n in names if evidence.p_gold_better[n] < _needed(n, names))
            acc = evidence.gold_accuracy
            reason = (f"held-out gold ({evidence.gold_scored} items): {gold_best} {acc[gold_best]:.3f} beats "
                      f"{previous} {acc[previous]:.3f} beyond chance; simplest model not beaten: {model}")  # fmt: skip
        else:
            reason += (f"; held-out gold ({evidence.gold_scored} items) shows no model better than {model} "
                       f"beyond chance")  # fmt: skip
    return Choice(model, reason, evidence, limits)
