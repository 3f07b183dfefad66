"""The quality engine's public services (design: quality.md).

* item_after_vote: online posterior update + done / needs more / review decision (called with the item locked);
* project_reaggregate: the periodic full re-aggregation (quality_reaggregate.py);
* annotator_block / annotator_unblock / annotator_status_set: status overrides, retroactive on the items;
* gold_set / gold_import: known answers;
* review actions live in quality_review.py.
"""

from __future__ import annotations

import numpy as np
from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import Exists, F, OuterRef

from annotate.exceptions import NotFound, ServiceError
from labeling.algorithms.boxes import box_consensus
from labeling.models import Annotation, AnnotatorScore, Item, Lease, Project
from labeling.services import quality_annotators as rules
from labeling.services.quality_engine import (
    BOX_AGREEMENT_TARGET,
    annotator_models,
    calibration_key,
    decide,
    posterior_json,
    project_classes,
)
from labeling.services.quality_reaggregate import ReaggregateResult, project_reaggregate

__all__ = [
    "ReaggregateResult",
    "annotator_block",
    "annotator_may_label",
    "annotator_status_set",
    "annotator_unblock",
    "gold_import",
    "gold_set",
    "item_after_vote",
    "item_evaluate",
    "items_reevaluate",
    "project_reaggregate",
]

Status = AnnotatorScore.Status
FINAL = (Item.Status.ACCEPTED, Item.Status.REJECTED)


def reaggregate_every() -> int:
    """About every N-th vote (annotation id % N) enqueues a full re-aggregation of its project (quality.md);
    0 turns the enqueueing off (the replay command re-aggregates synchronously instead)."""
    return int(getattr(settings, "QUALITY_REAGGREGATE_EVERY", 200))


REAGGREGATE_DEBOUNCE_SECONDS = 30


def _enqueue_reaggregate(project_id: int, *, debounce: bool = False) -> None:
    """Enqueue a full re-aggregation after commit. The periodic trigger is debounced (at most one per
    project per REAGGREGATE_DEBOUNCE_SECONDS, via an atomic cache add): under a burst of votes, back-to-back
    re-aggregations would only fight the online updates for the same item rows."""
    from labeling.tasks.quality import project_reaggregate_task

    if debounce and not cache.add(f"quality:reaggregate:{project_id}", 1, timeout=REAGGREGATE_DEBOUNCE_SECONDS):
        return
    transaction.on_commit(lambda: project_reaggregate_task.delay(project_id))


def annotator_may_label(*, user, project: Project) -> bool:
    return not AnnotatorScore.objects.filter(project=project, user=user, status=Status.BLOCKED).exists()


# --- online -----------------------------------------------------------------------------------------------


def item_after_vote(*, item: Item, enqueue: bool = True) -> None:
    """Score the new vote's author, then re-decide the item and save it (with the caller's new vote count).
    Runs inside annotation_submit's transaction, with the item row locked.

    Four queries on the hot path: the item's votes, the author's volume, the snapshot's version, the save."""
    project = item.project
    votes = _counted_votes(item)
    latest = max(votes, key=lambda v: v[0]) if votes else None
    if latest is not None:
        _, user_id, label, _answer, _counted = latest
        if not AnnotatorScore.objects.filter(project=project, user_id=user_id).update(volume=F("volume") + 1):
            AnnotatorScore.objects.get_or_create(project=project, user_id=user_id, defaults={"volume": 1})
        if item.is_gold and item.gold_label is not None:
            score = rules.record_gold_answer(project=project, user_id=user_id, correct=label == item.gold_label)
            if score.status == Status.BLOCKED and enqueue and reaggregate_every():
                _enqueue_reaggregate(project.pk)  # retroactive: their other votes stop counting
        every = reaggregate_every()
        if enqueue and every and latest[0] % every == 0:
            _enqueue_reaggregate(project.pk, debounce=True)
    if item.is_gold or item.status in FINAL:
        item.save(update_fields=["votes_count", "updated_at"])
        return
    item_evaluate(item=item, project=project, votes=votes)


def _counted_votes(item: Item) -> list[tuple]:
    """(annotation id, user id, label, answer, counted) per vote, in order; counted = author not blocked."""
    blocked = AnnotatorScore.objects.filter(
        project_id=item.project_id, user_id=OuterRef("user_id"), status=Status.BLOCKED
    )
    return list(
        Annotation.objects.filter(item=item)
        .annotate(blocked=Exists(blocked))
        .order_by("id")
        .values_list("id", "user_id", "label", "answer", "blocked")
    )


def item_evaluate(*, item: Item, project: Project, votes: list[tuple] | None = None) -> Item:
    """Recompute the item's posterior from its counted votes and decide its status. Caller holds the row lock."""
    rows = _counted_votes(item) if votes is None else votes
    votes = [(uid, label, answer) for _id, uid, label, answer, blocked in rows if not blocked]
    n = len(votes)
    fields = ["posterior", "label", "confidence", "status", "needed_votes", "priority", "votes_count", "updated_at"]
    item.votes_count = n
    if project.task_type == Project.TaskType.BOXES:
        _evaluate_boxes(item, project, votes)
        fields.append("answer")
    elif n == 0:
        item.posterior = item.label = item.confidence = None
        item.status, item.needed_votes = Item.Status.OPEN, max(project.min_votes, 1)
    else:
        users = [v[0] for v in votes]
        labels = [v[1] for v in votes]
        models = annotator_models(project, labels)
        post = _with_model_vote(item, models.classes, models.posterior(users, labels))
        item.posterior = posterior_json(models.classes, post)
        item.label = models.classes[int(post.argmax())]
        item.confidence = round(float(post.max()), 6)
        d = decide(
            n_votes=n,
            posterior=post,
            min_votes=project.min_votes,
            max_votes=project.max_votes,
            target=models.target_for(calibration_key(project, item, item.label), float(project.confidence_target)),
            prior_accuracy=models.prior_accuracy,
        )
        item.status, item.needed_votes, item.priority = d.status, d.needed_votes, d.priority
    item.save(update_fields=fields)
    return item


def _with_model_vote(item: Item, classes: list[int], post: np.ndarray) -> np.ndarray:
    """Fold in the trained model's bounded vote (training.services.voter stores it in `model_probs["vote"]`).

    It is normalised evidence from a uniform prior, so multiplying adds the model as one more voter whose
    weight the voter service already capped; gold items never take it (humans decide gold).
    """
    vote = (item.model_probs or {}).get("vote")
    if not vote or item.is_gold:
        return post
    factor = np.array([float(vote.get(str(c), 1.0)) for c in classes], dtype=np.float64)
    combined = post * np.clip(factor, 1e-12, None)
    total = combined.sum()
    return combined / total if total > 0 else post


def _evaluate_boxes(item: Item, project: Project, votes: list) -> None:
    """Box consensus (labeling.algorithms.boxes): quorum = strict majority of the voters, drawn-nothing included."""
    n = len(votes)
    boxes = [box for _, _, answer in votes for box in (answer or {}).get("boxes", [])]
    who = [uid for uid, _, answer in votes for _ in (answer or {}).get("boxes", [])]
    if n == 0:
        item.answer, item.confidence, item.status = None, None, Item.Status.OPEN
        item.needed_votes = max(project.min_votes, 1)
        return
    cons = box_consensus(np.asarray(boxes, dtype=np.float64).reshape(-1, 4), np.asarray(who), quorum=n // 2 + 1)
    included = float((cons.assignment >= 0).mean()) if boxes else 1.0
    item.confidence = round(float(cons.agreement) * included, 6)
    item.answer = {"boxes": np.round(cons.boxes, 2).tolist(), "support": cons.support.tolist()}
    if n >= project.min_votes and item.confidence >= BOX_AGREEMENT_TARGET:
        item.status, item.needed_votes, item.priority = Item.Status.DONE, n, 0.0
    elif n >= project.max_votes:
        item.status, item.needed_votes, item.priority = Item.Status.REVIEW, n, 0.0
    else:
        item.status, item.needed_votes = Item.Status.OPEN, max(n + 1, project.min_votes)
        item.priority = 1.0 + item.confidence


def items_reevaluate(*, project: Project, item_ids) -> list[int]:
    """Re-decide the given items (rows locked in id order); returns the ids that went from done back to open."""
    reopened = []
    with transaction.atomic():
        for item in Item.objects.select_for_update().filter(project=project, pk__in=list(item_ids)).order_by("id"):
            if item.is_gold or item.status in FINAL:
                item.votes_count = sum(1 for *_rest, blocked in _counted_votes(item) if not blocked)
                item.save(update_fields=["votes_count", "updated_at"])
                continue
            before = item.status
            item_evaluate(item=item, project=project)
            if before == Item.Status.DONE and item.status == Item.Status.OPEN:
                reopened.append(item.pk)
    return reopened


# --- annotator status overrides ------------------------------------------------------------------------------


def annotator_status_set(*, project: Project, user, status: str, by, reason: str) -> tuple[AnnotatorScore, list[int]]:
    """A person's decision (logged, locks the status against the automatic rules). Blocking or unblocking is
    retroactive: the annotator's items are re-decided at once. Returns (score, ids of items reopened)."""
    if status not in Status.values:
        raise ServiceError(f"Unknown status {status!r}.", code="invalid_status")
    reason = (reason or "").strip() or f"set to {status} by a reviewer"
    with transaction.atomic():
        # Items before the score, in id order: the order of votes and of the full re-aggregation (no deadlock).
        item_ids = list(
            Item.objects.select_for_update(of=("self",))
            .filter(project=project, annotations__user=user)
            .order_by("id")
            .values_list("id", flat=True)
        )
        score = rules.score_for(project=project, user_id=user.pk, lock=True)
        was_blocked = score.status == Status.BLOCKED
        rules.status_change(score=score, to=status, reason=reason, by=by, lock=True)
        if status == Status.BLOCKED:
            Lease.objects.filter(user=user, item__project=project).delete()
        reopened: list[int] = []
        if was_blocked != (status == Status.BLOCKED):
            reopened = items_reevaluate(project=project, item_ids=item_ids)
    return score, reopened


def annotator_block(*, project: Project, user, by, reason: str) -> tuple[AnnotatorScore, list[int]]:
    return annotator_status_set(project=project, user=user, status=Status.BLOCKED, by=by, reason=reason)


def annotator_unblock(*, project: Project, user, by, reason: str = "") -> tuple[AnnotatorScore, list[int]]:
    return annotator_status_set(project=project, user=user, status=Status.ACTIVE, by=by, reason=reason or "unblocked")


# --- gold ------------------------------------------------------------------------------------------------------


def label_validate(*, project: Project, label: int | None) -> int:
    """A label value valid in the project: verify 0/1, classify a category id or -1 (none)."""
    if isinstance(label, bool) or not isinstance(label, int):
        raise ServiceError("The label must be an integer.", code="invalid_label")
    if project.task_type == Project.TaskType.BOXES:
        raise ServiceError("Box projects have no integer labels.", code="invalid_label")
    allowed = project_classes(project, [-1]) if project.task_type == Project.TaskType.CLASSIFY else [0, 1]
    if label not in allowed:
        raise ServiceError(f"Label {label} is not valid in this project.", code="invalid_label")
    return label


def gold_set(*, item: Item, label: int | None) -> Item:
    """Make the item gold with `label` (None removes its gold status). Gold is clamped in every aggregation."""
    project = item.project
    with transaction.atomic():
        item = Item.objects.select_for_update().get(pk=item.pk)
        if label is None:
            item.is_gold, item.gold_label = False, None
            item.save(update_fields=["is_gold", "gold_label", "updated_at"])
            return item
        label = label_validate(project=project, label=label)
        classes = project_classes(project, [label])
        item.is_gold, item.gold_label, item.label, item.confidence = True, label, label, 1.0
        item.posterior = {str(c): float(c == label) for c in classes}
        item.save(update_fields=["is_gold", "gold_label", "label", "confidence", "posterior", "updated_at"])
    return item


def gold_import(*, project: Project, rows) -> int:
    """rows: (item id, label) pairs (label: an int, or a category name in classify projects). All or nothing."""
    names = dict(project.categories.values_list("name", "id"))
    count = 0
    with transaction.atomic():
        for line, (item_key, raw) in enumerate(rows, start=1):
            item = Item.objects.filter(project=project, pk=int(item_key) if str(item_key).isdigit() else -1).first()
            if item is None:
                raise NotFound(f"Row {line}: no item {item_key!r} in this project.", code="item_not_found")
            text = str(raw).strip()
            label = names.get(text) if text in names else int(text) if text.lstrip("-").isdigit() else None
            if label is None:
                raise ServiceError(f"Row {line}: unknown label {raw!r}.", code="invalid_label")
            gold_set(item=item, label=label)
            count += 1
    return count
