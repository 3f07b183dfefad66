"""The online half of the quality engine (design: quality.md): after each vote, the item's posterior is updated
from the latest snapshot's annotator models and the item is decided (done / needs more / review); gold answers
score their author at once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from django.core.cache import cache
from django.db import transaction
from django.db.models import Exists, OuterRef, QuerySet
from django.utils import timezone

from annotate.conf import options
from annotate.db import bulk_update_values
from labeling.algorithms.boxes import box_consensus, detection_consensus
from labeling.models import Annotation, AnnotatorScore, Item, Project
from labeling.services.quality import rules
from labeling.services.quality.engine import (
    BOX_AGREEMENT_TARGET,
    annotator_models,
    calibration_key,
    decide,
    is_audit_item,
    latest_models,
    model_vote,
    posterior_json,
)
from labeling.services.quality.triggers import reaggregate_due

Status = AnnotatorScore.Status
FINAL = (Item.Status.ACCEPTED, Item.Status.REJECTED)


def reaggregate_every() -> int:
    """About every N-th vote (annotation id % N) enqueues a full re-aggregation of its project (quality.md);
    0 turns the enqueueing off (the replay command re-aggregates synchronously instead)."""
    return options().QUALITY_REAGGREGATE_EVERY


REAGGREGATE_DEBOUNCE_SECONDS = 30


def _enqueue_reaggregate(project_id: int, *, debounce: bool = False) -> None:
    """Enqueue a full re-aggregation after commit. The periodic trigger is debounced (at most one per
    project per REAGGREGATE_DEBOUNCE_SECONDS, via an atomic cache add): under a burst of votes, back-to-back
    re-aggregations would only fight the online updates for the same item rows."""
    from labeling.tasks.quality import project_reaggregate_task

    if debounce and not cache.add(f"quality:reaggregate:{project_id}", 1, timeout=REAGGREGATE_DEBOUNCE_SECONDS):
        return
    transaction.on_commit(lambda: project_reaggregate_task.delay(project_id))


def blocked_score(*, project, user) -> QuerySet:
    """The user's score row in the project if it says they are blocked (the one rule of "may not label";
    `project` may be an OuterRef, so the assignment engine reads it inside its own first statement)."""
    return AnnotatorScore.objects.filter(project=project, user=user, status=Status.BLOCKED)


def annotator_may_label(*, user, project: Project) -> bool:
    return not blocked_score(project=project, user=user).exists()


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
    fields = _decide_item(item, project, rows, lambda labels: annotator_models(project, labels))
    item.save(update_fields=fields)
    return item


EVALUATED_FIELDS = ["posterior", "label", "confidence", "status", "needed_votes", "priority", "votes_count"]
EVALUATED_FIELDS += ["review_reason", "updated_at"]


def _decide_item(item: Item, project: Project, rows: list[tuple], models_for: Callable) -> list[str]:
    """item_evaluate's decision, in memory: sets the item's new state, returns the fields to save."""
    votes = [(uid, label, answer) for _id, uid, label, answer, blocked in rows if not blocked]
    n = len(votes)
    fields = list(EVALUATED_FIELDS)
    item.votes_count = n
    item.review_reason = ""
    if project.task_type == Project.TaskType.BOXES:
        _evaluate_boxes(item, project, votes)
        fields.append("answer")
    else:
        users = [v[0] for v in votes]
        labels = [v[1] for v in votes]
        models = models_for(labels)
        vote = model_vote(item.model_probs, models.classes, is_gold=item.is_gold)
        if n == 0 and not (vote and vote.proven and project.min_votes == 0):
            item.posterior = item.label = item.confidence = None
            item.status, item.needed_votes = Item.Status.OPEN, max(project.min_votes, 1)
            return fields
        post = models.posterior(users, labels)
        post = vote.fold(post) if vote else post
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
            single_voter_proven=n == 1 and users[0] in models.proven,
            audit=is_audit_item(item.pk, project.audit_rate),
            model_voter_proven=bool(vote and vote.proven),
        )
        item.status, item.needed_votes, item.priority = d.status, d.needed_votes, d.priority
        item.review_reason = d.review_reason
    return fields


def _evaluate_boxes(item: Item, project: Project, votes: list) -> None:
    """Box consensus (labeling.algorithms.boxes): quorum = strict majority of the voters, drawn-nothing included.
    Detection projects cluster per category (detection_consensus) and keep each object's category."""
    n = len(votes)
    boxes = [box for _, _, answer in votes for box in (answer or {}).get("boxes", [])]
    who = [uid for uid, _, answer in votes for _ in (answer or {}).get("boxes", [])]
    if n == 0:
        item.answer, item.confidence, item.status = None, None, Item.Status.OPEN
        item.needed_votes = max(project.min_votes, 1)
        return
    coords = np.asarray([b[:4] for b in boxes], dtype=np.float64).reshape(-1, 4)
    if project.detects:
        cats = np.asarray([b[4] if len(b) > 4 else -1 for b in boxes], dtype=np.int64)
        cons = detection_consensus(coords, cats, np.asarray(who), quorum=n // 2 + 1)
        merged = [[*b, int(c)] for b, c in zip(np.round(cons.boxes, 2).tolist(), cons.categories, strict=True)]
    else:
        cons = box_consensus(coords, np.asarray(who), quorum=n // 2 + 1)
        merged = np.round(cons.boxes, 2).tolist()
    included = float((cons.assignment >= 0).mean()) if boxes else 1.0
    item.confidence = round(float(cons.agreement) * included, 6)
    item.answer = {"boxes": merged, "support": cons.support.tolist()}
    if n >= project.min_votes and item.confidence >= BOX_AGREEMENT_TARGET:
        item.status, item.needed_votes, item.priority = Item.Status.DONE, n, 0.0
    elif n >= project.max_votes:
        item.status, item.needed_votes, item.priority = Item.Status.REVIEW, n, 0.0
        item.review_reason = Item.ReviewReason.MAX_VOTES
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


# --- The online update (annotations_submit_batch): N new votes of one author (N = 1 for a single answer), in a
# constant number of statements, decided vote by vote in the batch's order (quality.md).


@dataclass(frozen=True)
class NewVote:
    """A vote the batch path just stored: its item (row locked, votes_count already counting it), id, label."""

    item: Item
    annotation_id: int
    label: int | None


def votes_counted(*, project: Project, item_ids: list[int]) -> dict[int, list[tuple]]:
    """_counted_votes for many items of the project in one query: item id -> (id, user, label, answer, blocked)."""
    blocked = AnnotatorScore.objects.filter(project_id=project.pk, user_id=OuterRef("user_id"), status=Status.BLOCKED)
    rows = (
        Annotation.objects.filter(item_id__in=item_ids)
        .annotate(blocked=Exists(blocked))
        .order_by("id")
        .values_list("item_id", "id", "user_id", "label", "answer", "blocked")
    )
    counted: dict[int, list[tuple]] = {pk: [] for pk in item_ids}
    for item_id, *vote in rows:
        counted[item_id].append(tuple(vote))
    return counted


def author_after_votes(
    *, project: Project, user_id: int, score: AnnotatorScore | None, votes: list[NewVote], enqueue: bool = True
) -> int:
    """The author half of the online update for one author's new votes, in order: each gold answer scored as
    record_gold_answer does, then the volume, in one save of the (locked) score row.

    A gold answer that blocks its author ends the batch, as it ended the author's work when each answer was its
    own request: returns how many of `votes` stand (the caller removes the rest and refuses them)."""
    if score is None:
        score = rules.score_for(project=project, user_id=user_id, lock=True)
    kept, gold = len(votes), False
    for index, vote in enumerate(votes):
        score.volume += 1  # before the vote's gold rules, as each vote's own update did
        item = vote.item
        if not (item.is_gold and item.gold_label is not None):
            continue
        gold = True
        rules.gold_answer_count(score=score, correct=vote.label == item.gold_label)
        rules.gold_rules_apply(score=score)
        if score.status == Status.BLOCKED:
            kept = index + 1
            if enqueue and reaggregate_every():
                _enqueue_reaggregate(project.pk)  # retroactive: their other votes stop counting
            break
    score.save(update_fields=["volume", *(rules.GOLD_FIELDS if gold else [])])
    return kept


def items_after_votes(
    *, project: Project, votes: list[NewVote], counted: dict[int, list[tuple]], enqueue: bool = True
) -> None:
    """The item half of the online update for N new votes (one per item): each item re-decided in memory as
    item_evaluate does, with one read of the snapshot for the batch, then one UPDATE … FROM (VALUES …)."""
    every = reaggregate_every()
    latest: list = []  # the snapshot's models, read at the first item that needs them
    category_ids: list = []

    def models_for(labels: list[int]):
        if not latest:
            latest.append(latest_models(project))
        if project.task_type == Project.TaskType.CLASSIFY and not category_ids and not _covers(latest[0], labels):
            category_ids.append(list(project.categories.order_by("id").values_list("id", flat=True)))
        cats = category_ids[0] if category_ids else None
        return annotator_models(project, labels, latest=latest[0], category_ids=cats)

    now = timezone.now()
    fields = list(EVALUATED_FIELDS) + (["answer"] if project.task_type == Project.TaskType.BOXES else [])
    if enqueue and every and reaggregate_due(project_id=project.pk, votes=len(votes)):  # live: triggers.py
        _enqueue_reaggregate(project.pk, debounce=True)
    for vote in votes:
        item = vote.item
        if not (item.is_gold or item.status in FINAL):  # those keep their state: only the count changes
            _decide_item(item, project, counted[item.pk], models_for)
        item.updated_at = now
    bulk_update_values(Item, [vote.item for vote in votes], fields)


def _covers(models, labels: list[int]) -> bool:
    return models is not None and set(labels) <= set(models.classes)
