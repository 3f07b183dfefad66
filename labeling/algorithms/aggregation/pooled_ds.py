"""Dawid-Skene with a pooled (hierarchical) Dirichlet prior on the confusion matrices (see pooled_ds.md).

Each worker's confusion row k is the posterior mean under a Dirichlet(alpha[k]) prior shared by the whole crowd;
alpha (mean = the crowd's confusion, sum = its strength in pseudo-votes) is re-estimated at every M-step by
empirical Bayes (Minka's fixed point for the Dirichlet-multinomial), so a worker with few votes looks like the
crowd and one with many like itself, and no prior strength is tuned by hand. Candidate models share that machinery:

* "full": a Dirichlet per confusion row (Dawid-Skene);
* "one_coin": a Beta prior on one accuracy per worker, errors spread evenly;
* each with class priors estimated (anchored to the crowd's label shares) or held uniform ("_uniform").

Only votes that can be checked against something (items with another vote or gold) enter the M-step: a lone
vote only confirms itself. The candidate is chosen by the leave-one-vote-out predictive likelihood of those votes;
the winner's posterior temperature is fitted on the same held-out votes (../calibration.py). Each worker's accuracy
is a Beta posterior: its expected-correct checkable votes plus the pooled accuracy as prior pseudo-votes.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from ..calibration import TEMPERATURE_GRID, tempered_softmax, vote_temperature
from ..intervals import beta_interval
from .base import (
    PROB_FLOOR,
    AggregationResult,
    CrowdData,
    clamp_gold,
    e_step,
    estimate_priors,
    fill_unlabelled,
    prepare,
    row_argmax,
)
from .choice import CANDIDATES, Choice, choose, item_uniform
from .dawid_skene import DEFAULT_MAX_ITER, DEFAULT_TOL, gold_informed
from .hierarchical_prior import FIXED_POINT_STEPS, HierarchicalMStep

TEMPERATURE_VOTES = 10_000  # held-out votes for the temperature fit (a fixed-seed subset above this): one scalar
# Class priors: the EM estimate and the crowd's label shares weigh the same (pseudo-items = 1 x the items). With
# few votes per item EM can otherwise run away to one class (the prior overrides the votes, which confirms it).
PRIOR_PSEUDO_ITEMS = 1.0
SCORE_PRIOR_VOTES = 2.0  # pseudo-votes at the pooled accuracy in each worker's reported accuracy
CHOICE_VOTES = 20_000  # above this many votes the model is chosen on a sample of items of about this size


@dataclass(frozen=True)
class _Fit:
    m_step: HierarchicalMStep
    posteriors: np.ndarray  # untempered, from EM
    confusion: np.ndarray
    priors: np.ndarray
    iterations: int
    score: float  # mean leave-one-vote-out log-likelihood at that temperature (-inf when nothing is held out)


def _fit(
    data: CrowdData,
    structure: str,
    checkable: np.ndarray,
    held: np.ndarray,
    *,
    max_iter: int,
    tol: float,
    steps: int = FIXED_POINT_STEPS,
    score: bool = True,
) -> _Fit:
    m_step = HierarchicalMStep(structure, checkable.astype(np.float64), steps)
    if held.size == 0 and not data.gold_items.size:
        # Nothing can be checked: the hyperprior worker for everyone, priors from the vote shares, one E-step.
        posteriors = np.zeros((data.n_items, data.n_classes))
        confusion = m_step(data, posteriors)
        priors = estimate_priors(data, _vote_shares(data), 1.0)
        iterations = 0
    else:
        posteriors, confusion, priors, iterations = _em(
            data, m_step, max_iter=max_iter, tol=tol, uniform_priors=m_step.uniform_priors
        )
    log_lik = -np.inf
    if score and held.size:  # the structures are compared untempered: the temperature calibrates, it does not choose
        rest, lik = _held_out_terms(data, m_step, confusion, posteriors, held)
        log_lik = float(
            np.log((tempered_softmax(rest, np.log(np.maximum(priors, PROB_FLOOR)), 1.0) * lik).sum(axis=1)).mean()
        )
    return _Fit(m_step, posteriors, confusion, priors, iterations, log_lik)


def _em(
    data: CrowdData, m_step: HierarchicalMStep, *, max_iter: int, tol: float, uniform_priors: bool = False
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """EM from the majority-vote shares (gold clamped; gold-answering workers start from their gold record).

    Class priors: the mean posterior, pulled towards the crowd's label shares by PRIOR_PSEUDO_ITEMS * n_items
    pseudo-items; or held uniform (with one shared accuracy that is majority vote, made probabilistic).
    """
    shares = _vote_shares(data)
    posteriors = clamp_gold(data, shares.copy())
    label_shares = estimate_priors(data, shares, 1.0)
    pseudo = PRIOR_PSEUDO_ITEMS * float(data.informed.sum())

    def class_priors(post: np.ndarray) -> np.ndarray:
        if uniform_priors:
            return np.full(data.n_classes, 1.0 / data.n_classes)
        mass = (post.sum(axis=0) if data.all_informed else post[data.informed > 0].sum(axis=0)) + pseudo * label_shares
        return mass / max(mass.sum(), 1e-300)

    priors = class_priors(posteriors)
    confusion = gold_informed(data, m_step, m_step(data, posteriors))
    previous, iterations = -np.inf, 0
    for iterations in range(1, max_iter + 1):  # noqa: B007 - the final value is reported
        before = posteriors
        posteriors, log_likelihood = e_step(data, confusion, priors)
        priors = class_priors(posteriors)
        confusion = m_step(data, posteriors)
        # Stop on a flat likelihood (as DS) or on settled posteriors (mean change per item and class <= tol):
        # while alpha still strengthens, the plain likelihood drifts down by ~1e-4 per vote for many iterations
        # after the answer has settled (1M votes: 15 iterations instead of 6, same labels but for a few items).
        if abs(log_likelihood - previous) <= tol * max(data.n_votes, 1) or (
            before.size and float(np.abs(posteriors - before).mean()) <= tol
        ):
            break
        previous = log_likelihood
    return posteriors, confusion, priors, iterations


def _vote_shares(data: CrowdData) -> np.ndarray:
    counts = data.vote_counts()
    total = counts.sum(axis=1, keepdims=True)
    return np.divide(counts, total, out=np.zeros_like(counts), where=total > 0)


def _log_conf_by_vote(data: CrowdData, confusion: np.ndarray) -> np.ndarray:
    k = data.n_classes
    return np.log(np.maximum(confusion, PROB_FLOOR)).transpose(0, 2, 1).reshape(data.n_workers * k, k)


def _held_out_terms(data: CrowdData, m_step: HierarchicalMStep, confusion: np.ndarray, posteriors: np.ndarray,
                    votes: np.ndarray, with_likelihood: bool = True) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """For held-out `votes`: the summed log-likelihood of the item's other votes, and the vote's likelihood."""
    by_vote = _log_conf_by_vote(data, confusion)
    summed = data.design @ by_vote
    k = data.n_classes
    w, lab, it = data.workers[votes], data.labels[votes], data.items[votes]
    rest = summed[it] - by_vote[w * k + lab]
    return rest, (m_step.held_out(w, lab, m_step.weighted_posteriors[it]) if with_likelihood else rest[:, :0])


def _checkable_and_held(data: CrowdData) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Items that can be checked (>= 2 votes or gold), held-out votes (on such items, without gold) and a
    fixed-seed subset of them for the temperature fit."""
    votes_per_item = np.bincount(data.items, minlength=data.n_items)
    is_gold = np.zeros(data.n_items, dtype=bool)
    is_gold[data.gold_items] = True
    held_all = np.flatnonzero((votes_per_item[data.items] >= 2) & ~is_gold[data.items])
    held = held_all
    if held.size > TEMPERATURE_VOTES:
        held = np.sort(np.random.default_rng(0).choice(held_all, TEMPERATURE_VOTES, replace=False))
    return (votes_per_item >= 2) | is_gold, held_all, held


def _sample(data: CrowdData) -> CrowdData:
    """A fixed-seed sample of items holding about CHOICE_VOTES votes, every gold item kept (big crowds)."""
    take = item_uniform(data.n_items) < CHOICE_VOTES / data.n_votes
    take[data.gold_items] = True
    keep = take[data.items]
    code = np.cumsum(take) - 1  # sampled items renumbered 0..n-1: EM then works on the sample's rows only
    return prepare(
        code[data.items[keep]], data.workers[keep], data.labels[keep], n_items=int(take.sum()),
        n_workers=data.n_workers, n_classes=data.n_classes, gold_items=code[data.gold_items],
        gold_labels=data.gold_labels,
    )  # fmt: skip


# The candidates of the automatic choice (choice.py) as this module fits them. "mv" is majority vote as a model:
# one shared accuracy and uniform class priors, so its labels are exactly majority vote's (ties -> lowest label)
# and its posteriors carry a fitted accuracy and temperature for the online update.
POOLED_CANDIDATES = {"mv": "shared_uniform", "one_coin": "one_coin", "pooled": "full"}
CHOICE_MAX_ITER = 20  # EM iterations per candidate fit inside the cross-fitting: enough to rank them
CHOICE_MINKA_STEPS = 2  # ... and Minka steps per M-step (warm-started)
# Temperature: a coarse pass over every 4th grid point (and tau = 1), then the grid points around the coarse optimum.
COARSE_INDEX = np.unique(np.r_[np.arange(0, TEMPERATURE_GRID.size, 4), TEMPERATURE_GRID.size - 1])


def _candidate_fit(
    name: str, data: CrowdData, *, max_iter: int, tol: float, steps: int = FIXED_POINT_STEPS
) -> tuple[np.ndarray, np.ndarray]:
    """(worker confusion, class priors) of candidate `name` fitted on `data` (gold clamped)."""
    if name in POOLED_CANDIDATES:
        checkable, held_all, _ = _checkable_and_held(data)
        fit = _fit(data, POOLED_CANDIDATES[name], checkable, held_all, max_iter=max_iter, tol=tol, steps=steps,
                   score=False)  # fmt: skip
        return fit.confusion, fit.priors
    if name == "mace":
        from .mace import mace

        result = mace(data, max_iter=max_iter, tol=tol)
    elif name == "ds":
        from .dawid_skene import dawid_skene

        result = dawid_skene(data, max_iter=max_iter, tol=tol)
    else:
        raise ValueError(f"unknown candidate {name!r}; choose one of {', '.join(CANDIDATES)}")
    assert result.worker_confusion is not None
    return result.worker_confusion, result.class_priors


MV_MIN_EDGE = 0.01  # majority vote as a model: its shared accuracy is kept at least this much above chance (1/K)


def _symmetric(k: int, accuracy: float) -> np.ndarray:
    """(K, K) one worker's confusion with `accuracy` on the diagonal and the rest spread evenly."""
    off = (1.0 - accuracy) / max(k - 1, 1)
    return np.full((k, k), off) + np.eye(k) * (accuracy - off)


def _mv_labels(data: CrowdData) -> np.ndarray:
    return row_argmax(data.vote_counts())


def pooled_dawid_skene(
    data: CrowdData,
    *,
    max_iter: int = DEFAULT_MAX_ITER,
    tol: float = DEFAULT_TOL,
    structure: str | None = None,
    model: str | None = None,
    calibrate: bool = True,
) -> AggregationResult:
    """The default: a model chosen per crowd by cross-fitted evidence (choice.py), with calibrated posteriors and
    worker intervals; or a fixed one.

    structure: one of STRUCTURES (a fixed pooled model, no choice); model: one of choice.CANDIDATES (fixed);
    both None: choose among choice.CANDIDATES. calibrate: fit the posterior temperature (False -> 1.0).
    """
    choice: Choice | None = None
    if structure is None:
        if model is None:
            sample = _sample(data) if data.n_votes > CHOICE_VOTES else data
            steps = min(max_iter, CHOICE_MAX_ITER)
            choice = choose(
                sample,
                lambda name, train: _candidate_fit(name, train, max_iter=steps, tol=tol, steps=CHOICE_MINKA_STEPS),
            )
            model = choice.model
        elif model not in CANDIDATES:
            raise ValueError(f"model must be one of {CANDIDATES}, got {model!r}")
    result = _final(data, structure, model, max_iter=max_iter, tol=tol, calibrate=calibrate)
    if choice is None:
        return result
    reason = choice.reason
    mv_labels = _mv_labels(data)
    voted = data.labelled
    order = list(CANDIDATES)
    # The guard: the final fit may not disagree with majority vote on (much) more items than the cross-fitted
    # predictions of the same model did; else step down towards majority vote.
    while model != "mv" and voted.any():
        share = float((result.labels[voted] != mv_labels[voted]).mean())
        limit = choice.disagreement_limit.get(model, 1.0)
        if share <= limit:
            break
        simpler = order[order.index(model) - 1]
        crossed = choice.evidence.disagreement.get(model, 0.0)
        reason += (f"; guard: the final {model} fit disagrees with majority vote on {share:.1%} of items, more "
                   f"than the cross-fitted {crossed:.1%} supports -> {simpler}")  # fmt: skip
        model = simpler
        result = _final(data, None, model, max_iter=max_iter, tol=tol, calibrate=calibrate)
    return replace(result, model=model, model_reason=reason, model_evidence=choice.evidence.as_dict())


def _final(data: CrowdData, structure: str | None, model: str | None, *, max_iter: int, tol: float,
           calibrate: bool) -> AggregationResult:  # fmt: skip
    """Fit one model on all votes and package it: temperature, posteriors, worker scores and intervals."""
    checkable, held_all, held = _checkable_and_held(data)
    name = structure or POOLED_CANDIDATES.get(model or "", "")
    k = data.n_classes
    m_step = None
    if name:
        fit = _fit(data, name, checkable, held_all, max_iter=max_iter, tol=tol, score=False)
        m_step, confusion, priors, iterations = fit.m_step, fit.confusion, fit.priors, fit.iterations
        pooled = m_step.pooled(k)
        if name == "shared_uniform" and data.n_workers and confusion[0, 0, 0] <= 1.0 / k + MV_MIN_EDGE:
            # Majority vote as a model is majority vote only while its shared accuracy beats chance. EM can reach
            # the mirrored basin (shared accuracy < 1/K: every label inverted) when gold shows a crowd whose
            # majority is barely better than chance (measured: 20 leaning workers, 30 gold, 154 of 200 labels
            # flipped, 14 points below majority vote). Floored just above chance: majority vote's labels, posteriors
            # near uniform, which is what such a crowd deserves.
            pooled = _symmetric(k, 1.0 / k + MV_MIN_EDGE)
            confusion = np.repeat(pooled[None], data.n_workers, axis=0)
    else:
        assert model is not None
        confusion, priors = _candidate_fit(model, data, max_iter=max_iter, tol=tol)
        iterations = 0
        votes = np.bincount(data.workers, minlength=data.n_workers).astype(np.float64)
        pooled = np.einsum("w,wkl->kl", votes, confusion) / max(votes.sum(), 1.0) if votes.sum() else np.eye(k)
        pooled = pooled / np.maximum(pooled.sum(axis=1, keepdims=True), 1e-300)
    log_priors = np.log(np.maximum(priors, PROB_FLOOR))
    by_vote = _log_conf_by_vote(data, confusion)
    summed = data.design @ by_vote
    if name == "shared_uniform":
        # Majority vote as a model: every worker has the same symmetric matrix, so the evidence for class k is
        # n * log q + count_k * (log p - log q). Computed so, equal counts give bitwise-equal scores and ties go to
        # the lowest label as majority vote's do (summed through the sparse product, float rounding breaks them).
        p_right = float(confusion[0, 0, 0]) if data.n_workers else 1.0
        q_wrong = (1.0 - p_right) / max(k - 1, 1)
        counts = data.vote_counts()
        lq = np.log(max(q_wrong, PROB_FLOOR))
        summed = counts.sum(axis=1, keepdims=True) * lq + counts * (np.log(max(p_right, PROB_FLOOR)) - lq)
    summed += log_priors
    # The temperature tempers the whole log-posterior (prior and votes), so labels stay the model's MAP labels; the
    # reported class priors are the fitted ones raised to tau (renormalised), which makes the online update's
    # softmax(log prior + tau * votes) the same posterior.
    tau = 1.0
    if calibrate and held.size:
        w, lab, it = data.workers[held], data.labels[held], data.items[held]
        rest = summed[it] - by_vote[w * k + lab]
        # Pooled models refit each worker without the vote; the others keep no counts, so in-sample likelihood.
        lik = m_step.held_out(w, lab, m_step.weighted_posteriors[it]) if m_step is not None else confusion[w, :, lab]
        flat = np.zeros(k)
        coarse = vote_temperature(rest, lik, flat, grid=TEMPERATURE_GRID[COARSE_INDEX])
        at = int(np.abs(TEMPERATURE_GRID - coarse).argmin())
        tau = vote_temperature(rest, lik, flat, grid=TEMPERATURE_GRID[max(at - 3, 0) : at + 4])
    posteriors = tempered_softmax(summed, np.zeros(k), tau)
    reported_priors = tempered_softmax(log_priors[None], np.zeros(k), tau)[0]
    posteriors = fill_unlabelled(data, clamp_gold(data, posteriors), reported_priors)

    # Worker accuracy: P(vote right) judged by the item's other votes (or gold), + the pooled accuracy as prior.
    # P(vote right | all the item's evidence): the EM expected count, unbiased when the model holds (the
    # leave-one-out P(right | other votes) ignores what the vote itself says and is biased towards the mean).
    right = posteriors[data.items, data.labels]
    judged = checkable[data.items].astype(np.float64)
    evidence = np.bincount(data.workers, weights=judged, minlength=data.n_workers)
    correct = np.bincount(data.workers, weights=right * judged, minlength=data.n_workers)
    # The score's prior is weak on purpose (SCORE_PRIOR_VOTES at the pooled accuracy): the crowd-level prior of the
    # confusion rows is the right amount of pooling for *aggregating* (a K x K matrix per worker), but as a prior
    # on one accuracy it is worth K rows of pseudo-votes, and with a few similar workers its empirical-Bayes
    # strength grows without bound: three volunteers at 97.7 / 92 / 85.8 % then all scored 0.885 +- 0.006. The
    # record should rank people; the interval's width says how much of a record there is.
    prior_votes = SCORE_PRIOR_VOTES
    pooled_accuracy = float(priors @ np.diagonal(pooled))
    skill = (correct + prior_votes * pooled_accuracy) / (evidence + prior_votes)
    low, high = beta_interval(skill, evidence + prior_votes)

    return AggregationResult(
        posteriors=posteriors,
        labels=row_argmax(posteriors),
        worker_confusion=confusion,
        worker_skill=skill,
        class_priors=reported_priors,
        iterations=iterations,
        pooled_confusion=pooled,
        worker_skill_interval=np.stack([low, high], axis=1),
        worker_evidence=evidence,
        temperature=tau,
        model=model or f"pooled:{structure}",
        model_reason="" if structure is None else f"fixed structure {structure}",
    )
