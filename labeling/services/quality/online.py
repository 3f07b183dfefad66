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
from django.db.models import Exists, F, OuterRef, QuerySet

from annotate.conf import options
from labeling.algorithms.boxes import box_consensus, detection_consensus
from labeling.models import Annotation, AnnotatorScore, Item, Lease, Project, Skip
from labeling.services.quality import rules
from labeling.services.quality.engine import (
    BOX_AGREEMENT_TARGET,
    annotator_models,
    item_decide,
    latest_models,
    model_vote,
)
from labeling.services.quality.opinions import stored_vote, with_model_vote
from labeling.services.quality.stalled import eligible_annotators
from labeling.services.quality.transitions import Caller, item_save, items_write, settle
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


def item_evaluate(*, item: Item, project: Project, votes: list[tuple] | None = None, caller: Caller = Caller.ONLINE,
                  extra_fields: list[str] | None = None) -> Item:  # fmt: skip
    """Recompute the item's posterior from its counted votes and decide its status (engine.item_decide), written
    through quality.transitions as `caller`. Caller holds the row lock."""
    rows = _counted_votes(item) if votes is None else votes
    before = item.status
    fields = _decide_item(item, project, rows, lambda labels: annotator_models(project, labels), caller)
    item_save(caller=caller, item=item, fields=[*fields, *(extra_fields or [])], before=before)
    return item


EVALUATED_FIELDS = ["posterior", "label", "confidence", "status", "needed_votes", "priority", "votes_count"]
EVALUATED_FIELDS += ["review_reason", "updated_at"]


def _decide_item(item: Item, project: Project, rows: list[tuple], models_for: Callable,
                 caller: Caller = Caller.ONLINE) -> list[str]:  # fmt: skip
    """item_evaluate's decision, in memory: sets the item's new state, returns the fields to save. The decision
    is engine.item_decide's (the one decider); the status it may take is transitions.settle's."""
    votes = [(uid, label, answer) for _id, uid, label, answer, blocked in rows if not blocked]
    n = len(votes)
    fields = list(EVALUATED_FIELDS)
    item.votes_count = n
    before, before_reason, queue = item.status, item.review_reason, (item.needed_votes, item.priority)
    if project.task_type == Project.TaskType.BOXES:
        item.review_reason = ""
        _evaluate_boxes(item, project, votes)
        fields.append("answer")
    else:
        users = [v[0] for v in votes]
        labels = [v[1] for v in votes]
        models = models_for(labels)
        vote = model_vote(stored_vote(item), models.classes, is_gold=item.is_gold)
        out = item_decide(
            project=project, item_id=item.pk, category_id=item.category_id, classes=models.classes, n_votes=n,
            posterior=models.posterior(users, labels) if n else None, targets=models.targets,
            prior_accuracy=models.prior_accuracy, single_voter_proven=n == 1 and users[0] in models.proven,
            vote=vote,
        )  # fmt: skip
        item.posterior, item.label, item.confidence = out.posterior, out.label, out.confidence
        item.status, item.needed_votes = out.status, out.needed_votes
        item.priority = item.priority if out.priority is None else out.priority
        item.review_reason = out.review_reason
    decided = item.status
    item.status, item.review_reason = settle(caller, before, before_reason, item.status, item.review_reason)
    if item.status != decided:  # the item stays where it was routed: so do its queue fields
        item.needed_votes, item.priority = queue
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


def items_reevaluate(*, project: Project, item_ids, caller: Caller = Caller.RETRO) -> list[int]:
    """Re-decide the given items (rows locked in id order); returns the ids that went from done back to open."""
    reopened = []
    with transaction.atomic():
        locked = Item.objects.select_for_update(of=("self",)).filter(project=project, pk__in=list(item_ids))
        for item in with_model_vote(locked).order_by("id"):
            if item.is_gold or item.status in FINAL:
                item.votes_count = sum(1 for *_rest, blocked in _counted_votes(item) if not blocked)
                item_save(caller=caller, item=item, fields=["votes_count"], before=item.status)
                continue
            before = item.status
            item_evaluate(item=item, project=project, caller=caller)
            if before == Item.Status.DONE and item.status == Item.Status.OPEN:
                reopened.append(item.pk)
    return reopened


def annotators_blocked_apply(*, project: Project, user_ids: list[int]) -> list[int]:
    """Blocking is retroactive (findings 4, 22), whoever blocked (the gold rule online, a re-aggregation's
    passes, a status rule, a person): their leases are released and every item with one of their votes is
    re-decided without it, now -- not at the next re-aggregation, which may be off
    (QUALITY_REAGGREGATE_EVERY=0). Call it after the block is committed (the re-decision reads the statuses).
    Returns the ids of items that went from done back to open."""
    if not user_ids:
        return []
    Lease.objects.filter(user_id__in=user_ids, item__project=project).delete()
    ids = set(Annotation.objects.filter(item__project=project, user_id__in=user_ids).values_list("item_id", flat=True))
    return items_reevaluate(project=project, item_ids=sorted(ids)) if ids else []


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
    if score is None:  # a newcomer's first answer (also done at their first `next`; never waits: SKIP LOCKED)
        score = rules.score_for(project=project, user_id=user_id, lock=True)
        from labeling.services.quality.stalled import items_reopen_for_newcomer

        items_reopen_for_newcomer(project=project, exclude=[vote.item.pk for vote in votes])
    kept, gold = len(votes), False
    start = (score.volume, score.gold_seen, score.gold_correct)
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
            # Retroactive, whatever QUALITY_REAGGREGATE_EVERY says: after commit, leases released and every
            # item with one of their votes re-decided (the batch's own items are decided without them by
            # items_after_votes, told by the caller).
            transaction.on_commit(lambda: annotators_blocked_apply(project=project, user_ids=[user_id]))
            if enqueue and reaggregate_every():
                _enqueue_reaggregate(project.pk)  # the models are re-fitted without them
            break
    # Counters incremented in the database (F()), never written from a value read earlier (finding 18).
    counters = {"volume": F("volume") + (score.volume - start[0])}
    if gold:
        counters["gold_seen"] = F("gold_seen") + (score.gold_seen - start[1])
        counters["gold_correct"] = F("gold_correct") + (score.gold_correct - start[2])
        counters.update({name: getattr(score, name) for name in rules.GOLD_FIELDS[2:]})
    AnnotatorScore.objects.filter(pk=score.pk).update(**counters)
    return kept


def votes_uncount(counted: dict[int, list[tuple]], user_id: int) -> None:
    """The author was blocked mid-batch: their votes in `counted` (votes_counted's rows) stop counting, the
    earlier ones of the batch included (finding 22)."""
    for item_id, rows in counted.items():
        counted[item_id] = [(i, u, lab, ans, blocked or u == user_id) for i, u, lab, ans, blocked in rows]


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

    fields = list(EVALUATED_FIELDS) + (["answer"] if project.task_type == Project.TaskType.BOXES else [])
    before = {vote.item.pk: vote.item.status for vote in votes}
    if enqueue and every and reaggregate_due(project_id=project.pk, votes=len(votes)):  # live: triggers.py
        _enqueue_reaggregate(project.pk, debounce=True)
    for vote in votes:
        item = vote.item
        if item.is_gold or item.status in FINAL:  # those keep their state: only the count changes
            item.votes_count = sum(1 for *_rest, blocked in counted[item.pk] if not blocked)
            if project.task_type != Project.TaskType.BOXES:
                # Gold secrecy (issue 22): the same statements as a regular item's decision -- the snapshot (and,
                # when it does not cover the labels, the category ids) read as _decide_item reads them.
                models_for([label for _id, _uid, label, _answer, blocked in counted[item.pk] if not blocked])
        else:
            _decide_item(item, project, counted[item.pk], models_for)
    _route_no_annotator(project, [vote.item for vote in votes], before)
    items_write(caller=Caller.ONLINE, items=[vote.item for vote in votes], fields=fields, before=before)


def _route_no_annotator(project: Project, items: list[Item], before: dict[int, str]) -> None:
    """Finding 14: an item that stays open although every annotator who may still label it (stalled.py's
    `eligible_annotators`: the project's volunteers who can still come and its past annotators, not blocked) has
    answered or skipped it goes to review (`no_annotator`) in the vote's own transaction, not at the next sweep.
    Exactly one query for the batch, whatever the items are: a batch of gold (or of items that finished) runs it
    too, so the statement count never tells gold from regular work (issue 22, gold secrecy); the result is applied
    to the waiting items only."""
    if not items:
        return
    waiting = [i for i in items if i.status == Item.Status.OPEN and not i.is_gold and i.votes_count > 0]
    seen = Annotation.objects.filter(item_id=OuterRef(OuterRef("pk")), user_id=OuterRef("pk"))
    skipped = Skip.objects.filter(item_id=OuterRef(OuterRef("pk")), user_id=OuterRef("pk"))
    unseen = eligible_annotators(project).filter(~Exists(seen), ~Exists(skipped))
    stuck = set(Item.objects.filter(pk__in=[i.pk for i in items]).filter(~Exists(unseen)).values_list("pk", flat=True))
    for item in waiting:
        if item.pk in stuck:
            item.status, item.review_reason = Item.Status.REVIEW, Item.ReviewReason.NO_ANNOTATOR
            item.priority = 0.0


def _covers(models, labels: list[int]) -> bool:
    return models is not None and set(labels) <= set(models.classes)
