"""Internals of the quality engine shared by the online update and the full re-aggregation (see quality.md):
the label space of a project, the annotator models of the latest snapshot, per-category calibration and the
done / needs-more / review decision. No writes here except through the callers in online.py and reaggregate.py.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from labeling.algorithms.agreement import expected_extra_votes
from labeling.algorithms.posterior import item_posterior, symmetric_confusion
from labeling.models import AnnotatorScore, Item, Project, ProjectQualitySnapshot

# Accuracy assumed for an annotator the models know nothing about yet (and before any snapshot exists).
DEFAULT_PRIOR_ACCURACY = 0.7
# Vote weight by status (used by weighted methods and the snapshot); blocked votes are excluded entirely.
STATUS_WEIGHT = {"new": 1.0, "active": 1.0, "probation": 0.5, "blocked": 0.0}
# Box items: consensus is reached when the mean IoU of matched boxes, times the share of drawn boxes that
# joined a supported object, reaches this.
BOX_AGREEMENT_TARGET = 0.75
# Calibration corrects the target only once this many checked (gold / reviewed) items back it.
CALIBRATION_MIN_CHECKED = 30
# Key of the project-wide calibration row (all checked items), used where a category has too few of its own.
PROJECT_KEY = "*"
# "Proven on gold" (may finish an item alone): at least this many gold answers with a Wilson lower bound >= this.
PROVEN_MIN_GOLD = 20
PROVEN_GOLD_LOW = 0.8


def project_classes(project: Project, labels_seen: object = (), *, category_ids: list[int] | None = None) -> list[int]:
    """Label values in class-index order: verify [0, 1]; classify the category ids, then -1 (none) if used.
    `category_ids` (the project's, in id order) spares the query when the caller already holds them."""
    if project.task_type == Project.TaskType.VERIFY:
        return [0, 1]
    if category_ids is None:
        category_ids = list(project.categories.order_by("id").values_list("id", flat=True))
    classes = list(category_ids)
    if -1 in set(labels_seen):
        classes.append(-1)
    return classes


def blocked_user_ids(project_id: int) -> set[int]:
    return set(
        AnnotatorScore.objects.filter(project_id=project_id, status=AnnotatorScore.Status.BLOCKED).values_list(
            "user_id", flat=True
        )
    )


@dataclass
class AnnotatorModels:
    """Worker confusion matrices + class priors for online posteriors (from the snapshot, else the prior)."""

    classes: list[int]
    priors: np.ndarray
    confusions: dict[int, np.ndarray]
    default: np.ndarray
    prior_accuracy: float
    targets: dict[str, float] = field(default_factory=dict)  # calibrated targets by category key ("" = none)
    proven: frozenset[int] = frozenset()  # annotators proven on gold (proven_on_gold) at the snapshot
    temperature: float = 1.0  # calibration exponent on the votes' log-likelihoods (aggregation's temperature)

    def target_for(self, key: int | None, default: float) -> float:
        """The category's calibrated target, else the project-wide one ("*"), else `default` (target_lookup)."""
        return target_lookup(self.targets, key, default)

    def posterior(self, users: list[int], labels: list[int]) -> np.ndarray:
        index = {value: i for i, value in enumerate(self.classes)}
        codes = np.array([index[label] for label in labels], dtype=np.int64)
        if not users:
            return self.priors.copy()
        stack = np.stack([self.confusions.get(u, self.default) for u in users])
        return item_posterior(np.arange(len(users)), codes, stack, self.priors, temperature=self.temperature)


# Parsed snapshot models per project, keyed by the snapshot's (id, computed_at): every vote needs them, and
# parsing a large project's worker matrices from JSON cost more than the rest of the online update.
_MODELS_CACHE: OrderedDict[int, tuple[tuple, AnnotatorModels]] = OrderedDict()
_MODELS_CACHE_SIZE = 256


def _snapshot_models(project: Project) -> AnnotatorModels | None:
    """The latest snapshot's models (one small query for its version; the JSON is read only when it changed)."""
    version = ProjectQualitySnapshot.objects.filter(project=project).values_list("id", "computed_at").first()
    if version is None:
        return None
    cached = _MODELS_CACHE.get(project.pk)
    if cached is not None and cached[0] == version:
        _MODELS_CACHE.move_to_end(project.pk)
        return cached[1]
    snap = ProjectQualitySnapshot.objects.filter(pk=version[0]).first()
    if snap is None or not snap.classes:
        return None
    k = len(snap.classes)
    default = (
        np.asarray(snap.default_confusion, dtype=np.float64)
        if snap.default_confusion
        else symmetric_confusion(DEFAULT_PRIOR_ACCURACY, k)
    )
    acc = float(np.diagonal(default).mean())
    confusions = {int(uid): np.asarray(spec["confusion"], dtype=np.float64) for uid, spec in snap.workers.items()}
    priors = np.asarray(snap.priors, dtype=np.float64)
    proven = frozenset(int(uid) for uid, spec in snap.workers.items() if spec.get("proven"))
    models = AnnotatorModels(
        list(snap.classes), priors, confusions, default, acc, dict(snap.targets or {}), proven, snap.temperature
    )
    _MODELS_CACHE[project.pk] = ((snap.pk, snap.computed_at), models)
    while len(_MODELS_CACHE) > _MODELS_CACHE_SIZE:
        _MODELS_CACHE.popitem(last=False)
    return models


def latest_models(project: Project) -> AnnotatorModels | None:
    """The latest snapshot's parsed models (None before the first snapshot): read once per batch of votes."""
    return _snapshot_models(project)


_FETCH = object()


def annotator_models(
    project: Project,
    labels_seen: list[int],
    *,
    latest: AnnotatorModels | object | None = _FETCH,
    category_ids: list[int] | None = None,
) -> AnnotatorModels:
    """The latest snapshot's models if its label space covers `labels_seen`; else the uninformed prior.
    The result may be shared between calls: treat it as read-only. A batch passes `latest` (from
    latest_models) and the project's `category_ids` so that N items cost no query each."""
    models = _snapshot_models(project) if latest is _FETCH else latest
    if isinstance(models, AnnotatorModels) and set(labels_seen) <= set(models.classes):
        return models
    classes = project_classes(project, labels_seen, category_ids=category_ids)
    k = len(classes)
    acc = DEFAULT_PRIOR_ACCURACY
    # The calibrated targets do not depend on the label space: keep the snapshot's (finding 20, one lookup).
    targets = dict(models.targets) if isinstance(models, AnnotatorModels) else {}
    return AnnotatorModels(classes, np.full(k, 1.0 / k), {}, symmetric_confusion(acc, k), acc, targets)


def target_lookup(targets: dict[str, float], key: int | None, default: float) -> float:
    """THE target lookup (every path decides with it): the key's calibrated target, else the project-wide
    calibrated one (PROJECT_KEY), else `default` (the project's raw target). `targets` as in the snapshot:
    str(category id) or "" -> target, only keys backed by >= CALIBRATION_MIN_CHECKED stops (calibrated_targets)."""
    return float(targets.get("" if key is None else str(key), targets.get(PROJECT_KEY, default)))


def calibrated_targets(calibration: dict) -> dict[str, float]:
    """calibration_compute's result as the lookup table the snapshot stores and target_lookup reads."""
    return {
        ("" if key is None else str(key)): float(data.target)
        for key, data in calibration.items()
        if data.target is not None and data.n_checked >= CALIBRATION_MIN_CHECKED
    }


def target_grid(target: float) -> np.ndarray:
    """Candidate stopping thresholds for calibration: from half the target's allowed error (a looser target, at
    most twice the error) up to 0.9999, evenly spaced in log(error)."""
    loosest = 1.0 - min(2.0 * (1.0 - target), 0.5)
    return 1.0 - np.geomspace(1.0 - loosest, 1e-4, 33)


def stop_error(wrong: int, events: int, claimed_error: float) -> float:
    """Error rate of the stops, shrunk toward what the posteriors claimed by two pseudo-stops: a handful of stops
    at a high threshold, all right, is no proof of anything, and neither is one wrong among three."""
    return (wrong + 2.0 * claimed_error) / (events + 2.0)


@dataclass(frozen=True)
class Decision:
    status: str
    needed_votes: int
    priority: float | None  # None: the item keeps its priority (an unvoted item's is active learning's)
    review_reason: str = ""


def decide(
    *,
    n_votes: int,
    posterior: np.ndarray,
    min_votes: int,
    max_votes: int,
    target: float,
    prior_accuracy: float,
    single_voter_proven: bool = False,
    audit: bool = False,
    model_voter_proven: bool = False,
) -> Decision:
    """done: top posterior >= target and >= min votes; review: max votes without that; else needs more votes.

    One vote never finishes an item unless its author is proven on gold (`single_voter_proven`, see
    `proven_on_gold`): a single label cannot show that its author is reliable, and a model estimated from the
    crowd can be confidently wrong about a worker it has barely seen (quality.md, "Stopping").

    An item that needs more gets needed_votes = votes so far + the expected extra votes to reach the target
    (agreement.expected_extra_votes), within min..max, and priority 1 + confidence, so the assignment queue
    finishes items already close to certain before starting new ones.

    A trained model whose vote is folded into `posterior` counts as one more voter when it is proven on checked
    items by the same rule as a person (`model_voter_proven`, see `model_vote`): one human vote and a proven
    model may finish an item, and with `min_votes = 0` (the researcher's choice, like SageMaker Ground Truth's
    automated labelling) a proven, sure model may finish an item before any human sees it. Audit items always
    collect their human votes, and gold items never take a model vote."""
    many = decide_many(
        n_votes=np.array([n_votes]),
        posteriors=np.asarray(posterior, dtype=np.float64)[None, :],
        min_votes=min_votes,
        max_votes=max_votes,
        target=target,
        prior_accuracy=prior_accuracy,
        single_voter_proven=single_voter_proven,
        audit=audit,
        model_voter_proven=model_voter_proven,
    )
    reason = many.review_reason[0]
    return Decision(Item.Status(many.status[0]), int(many.needed_votes[0]), float(many.priority[0]),
                    Item.ReviewReason(reason) if reason else "")  # fmt: skip


class Decisions(NamedTuple):
    """decide_many's verdicts, one entry per item."""

    status: np.ndarray  # (n,) object: Item.Status values
    needed_votes: np.ndarray  # (n,) int64
    priority: np.ndarray  # (n,) float64
    review_reason: np.ndarray  # (n,) object


def decide_many(
    *,
    n_votes: np.ndarray,
    posteriors: np.ndarray,
    min_votes: int,
    max_votes: int,
    target: float | np.ndarray,
    prior_accuracy: float,
    single_voter_proven: bool | np.ndarray = False,
    audit: bool | np.ndarray = False,
    model_voter_proven: bool | np.ndarray = False,
) -> Decisions:
    """`decide` for many items at once (the re-aggregation decides a million): the same rule, element by element,
    with `target` per item or one for all. `decide` is this for one item."""
    n = np.asarray(n_votes, dtype=np.int64)
    post = np.asarray(posteriors, dtype=np.float64)
    confidence = post.max(axis=1) if post.shape[1] else np.zeros(n.size)
    targets = np.broadcast_to(np.asarray(target, dtype=np.float64), n.shape)
    audit = np.broadcast_to(np.asarray(audit, dtype=bool), n.shape)
    stop = stops(n, confidence, targets, min_votes, max_votes=max_votes, single_voter_proven=single_voter_proven,
                 model_voter_proven=model_voter_proven, audit=audit)  # fmt: skip
    review = ~stop & (n >= max_votes)
    more = ~stop & ~review
    status = np.where(stop, Item.Status.DONE.value, np.where(review, Item.Status.REVIEW.value, Item.Status.OPEN.value))
    needed = np.where(stop, np.maximum(n, 1), n)
    rows = np.flatnonzero(more)
    if rows.size:
        extra = np.zeros(rows.size, dtype=np.int64)
        for value in np.unique(targets[rows]).tolist():  # expected_extra_votes takes one target: one call per value
            sel = targets[rows] == value
            extra[sel] = expected_extra_votes(post[rows[sel]], value, prior_accuracy, max_votes=max_votes)
        m = n[rows]
        needed[rows] = np.where(audit[rows], max_votes,
                                np.minimum(max_votes, np.maximum(np.maximum(m + 1, min_votes), m + extra)))  # fmt: skip
    return Decisions(
        status.astype(object),
        needed.astype(np.int64),
        np.where(more, 1.0 + confidence, 0.0),
        np.where(review, Item.ReviewReason.MAX_VOTES.value, "").astype(object),
    )


def stops(
    n_votes: np.ndarray,
    confidence: np.ndarray,
    target: float | np.ndarray,
    min_votes: int,
    *,
    max_votes: int | None = None,
    single_voter_proven: bool | np.ndarray = False,
    model_voter_proven: bool | np.ndarray = False,
    audit: bool | np.ndarray = False,
) -> np.ndarray:
    """THE stopping rule, vectorised (decide for one item, calibration's replay for every prefix of every checked
    item): top posterior >= target, >= min votes, and two voters (a proven model counts as one) unless the only
    voter is proven; an audit item only once it has max votes."""
    n = np.asarray(n_votes)
    single = np.where(n == 1, single_voter_proven, np.logical_and(model_voter_proven, n == 0))
    voters = n + np.asarray(model_voter_proven, dtype=np.int64)
    may_stop = (voters >= 2) | single
    if max_votes is not None:
        may_stop &= ~np.asarray(audit, dtype=bool) | (n >= max_votes)
    return (n >= min_votes) & (np.asarray(confidence) >= target) & may_stop


@dataclass(frozen=True)
class ItemOutcome:
    """What the decider says an item's state is: the fields every path writes (through quality.transitions)."""

    posterior: dict[str, float] | None
    label: int | None
    confidence: float | None
    status: str
    needed_votes: int
    priority: float | None  # None: the item keeps its priority (an unvoted item's is active learning's)
    review_reason: str = ""


def item_decide(
    *,
    project: Project,
    item_id: int,
    category_id: int | None,
    classes: list[int],
    n_votes: int,
    posterior: np.ndarray | None,
    targets: dict[str, float],
    prior_accuracy: float,
    single_voter_proven: bool = False,
    vote: ModelVote | None = None,
) -> ItemOutcome:
    """THE decider of a verify / classify item (online update, re-aggregation, model voter; calibration replays
    its `stops`): the human posterior over `classes` (None without counted votes) folded with the model vote,
    the one target lookup, the zero-vote branch, then `decide`."""
    if n_votes == 0 and not (vote and vote.proven and project.min_votes == 0):
        return ItemOutcome(None, None, None, Item.Status.OPEN, max(project.min_votes, 1), None)
    post = np.full(len(classes), 1.0 / len(classes)) if posterior is None else posterior
    post = vote.fold(post) if vote else post
    label = classes[int(post.argmax())]
    key = category_id if project.task_type == Project.TaskType.VERIFY else (label if label >= 0 else None)
    d = decide(
        n_votes=n_votes,
        posterior=post,
        min_votes=project.min_votes,
        max_votes=project.max_votes,
        target=target_lookup(targets, key, float(project.confidence_target)),
        prior_accuracy=prior_accuracy,
        single_voter_proven=single_voter_proven and n_votes == 1,
        audit=is_audit_item(item_id, project.audit_rate),
        model_voter_proven=bool(vote and vote.proven),
    )
    return ItemOutcome(posterior_json(classes, post), label, round(float(post.max()), 6), d.status, d.needed_votes,
                       d.priority, d.review_reason)  # fmt: skip


def audit_mask(item_ids: np.ndarray, rate: float) -> np.ndarray:
    """Which items are the project's audit items (a stable pseudo-random `rate` share of the ids).

    Audit items collect max votes whatever their confidence, like the initial subset per synset that ImageNet
    had voted on by at least ten people: their full-vote consensus is the reference against which calibration
    checks whether stopping early at the target is honest (calibration.py). Chosen by a hash of the id
    (Knuth's multiplicative hash), so no path that creates items has to remember to mark them, and volunteers
    cannot tell them apart."""
    ids = np.asarray(item_ids, dtype=np.uint64)
    if rate <= 0:
        return np.zeros(ids.shape, dtype=bool)
    hashed = (ids * np.uint64(2654435761)) % np.uint64(4294967296)
    return hashed < np.uint64(int(rate * 4294967296))


def is_audit_item(item_id: int, rate: float) -> bool:
    """audit_mask for one item."""
    return bool(audit_mask(np.array([item_id]), rate)[0])


class StoredVote(NamedTuple):
    """A model vote as stored (a ModelOpinion row's class_ids, vote and proven): likelihoods over label values."""

    class_ids: tuple[int, ...]
    likelihoods: tuple[float, ...]
    proven: bool


@dataclass(frozen=True)
class ModelVote:
    """A trained model's bounded vote on one item, re-indexed to a caller's classes (training.services.voter
    stores it as a ModelOpinion row; quality.opinions reads it)."""

    factor: np.ndarray  # (K,) normalised likelihood over the classes, in the caller's class order
    proven: bool  # measured on enough checked items by `proven_on_gold`: it counts as a voter in `decide`

    def fold(self, posterior: np.ndarray) -> np.ndarray:
        """The posterior with the model as one more (independent) voter: multiply and renormalise."""
        combined = posterior * np.clip(self.factor, 1e-12, None)
        total = combined.sum()
        return combined / total if total > 0 else posterior


def model_vote(stored: StoredVote | None, classes: list[int], *, is_gold: bool) -> ModelVote | None:
    """The item's stored model vote re-indexed to `classes`; None without one, and always None on gold items
    (humans decide gold). The one place that turns a stored vote into a factor: the online update, the model voter
    and the full re-aggregation all fold through it."""
    if stored is None or is_gold:
        return None
    vote = dict(zip(stored.class_ids, stored.likelihoods, strict=True))
    if any(c not in vote for c in classes):
        # A vote over another class space (categories changed since, or a vote stored without "none"): no
        # likelihood for the missing class is honest, and 1.0 -- the highest -- was the bug (finding 16).
        return None
    factor = np.array([float(vote[c]) for c in classes], dtype=np.float64)
    return ModelVote(factor, bool(stored.proven))


def proven_on_gold(gold_seen: int, gold_wilson_low: float | None) -> bool:
    """An annotator whose single vote may finish an item: enough gold answers, and even the pessimistic end of
    the 95 % Wilson interval of their gold accuracy is high."""
    return gold_seen >= PROVEN_MIN_GOLD and gold_wilson_low is not None and gold_wilson_low >= PROVEN_GOLD_LOW


def posterior_json(classes: list[int], posterior: np.ndarray) -> dict[str, float]:
    return {str(value): round(float(p), 6) for value, p in zip(classes, posterior, strict=True)}
