"""Submitting answers: validation per task type, idempotency, vote counting, skips."""

from __future__ import annotations

import copy
import json
import uuid
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from annotate.db import bulk_insert_returning
from annotate.exceptions import Conflict, NotFound, ServiceError
from labeling.models import Annotation, AnnotatorScore, Category, Item, Lease, Project, Skip
from labeling.services.box_answers import boxes_validate
from labeling.services.quality import practice_feedback
from labeling.services.quality.online import (
    NewVote,
    author_after_votes,
    items_after_votes,
    votes_counted,
    votes_uncount,
)
from labeling.services.quality.opinions import with_model_vote
from labeling.services.quality.triggers import annotator_live_after_votes, live_votes

MAX_BATCH = 100
MAX_TIME_SPENT_MS = 3_600_000
MAX_CLIENT_INFO_CHARS = 2000


def _invalid(message: str) -> ServiceError:
    return ServiceError(message, code="invalid_answer", status_code=400)


def answer_validate(
    *, project: Project, item: Item, answer: Any, category_ids: set[int] | None = None
) -> tuple[int | None, dict]:
    """(integer label, normalised answer) for a raw answer, or a ServiceError saying what is wrong.
    `category_ids` (the project's) spares a query per classify or detection answer when the caller holds them."""
    if not isinstance(answer, dict):
        raise _invalid("The answer must be a JSON object.")
    task = project.task_type
    if task == Project.TaskType.VERIFY:
        if set(answer) != {"label"} or answer["label"] not in (0, 1) or isinstance(answer["label"], float):
            raise _invalid('A verify answer is {"label": 0} or {"label": 1}.')
        label = int(answer["label"])
        return label, {"label": label}
    if task == Project.TaskType.CLASSIFY:
        if set(answer) != {"category"}:
            raise _invalid('A classify answer is {"category": <category id>} or {"category": null}.')
        category_id = answer["category"]
        if category_id is None:
            return -1, {"category": None}
        if isinstance(category_id, bool) or not isinstance(category_id, int):
            raise _invalid("The category must be a category id of this project, or null.")
        known = (
            category_id in category_ids
            if category_ids is not None
            else Category.objects.filter(pk=category_id, project=project).exists()
        )
        if not known:
            raise _invalid(f"Category {category_id} is not a category of this project.")
        return category_id, {"category": category_id}
    return None, boxes_validate(project=project, item=item, answer=answer, category_ids=category_ids)


def _client_info(client_info: dict | None) -> dict:
    if client_info is None:
        return {}
    if not isinstance(client_info, dict):
        raise ServiceError("client_info must be a JSON object.", code="invalid_client_info")
    if len(json.dumps(client_info, default=str)) > MAX_CLIENT_INFO_CHARS:
        raise ServiceError("client_info is too large.", code="invalid_client_info")
    return client_info


@dataclass
class SubmitOutcome:
    """One answer's outcome: the stored annotation (with `was_created` and `feedback` set), or the refusal."""

    annotation: Annotation | None = None
    error: ServiceError | None = None


@dataclass(frozen=True)
class _Answer:
    item_id: int
    submission_id: uuid.UUID
    answer: Any
    time_spent_ms: int
    client_info: dict
    error: ServiceError | None = None


def _answer(raw: dict) -> _Answer:
    submission_id = uuid.UUID(str(raw["submission_id"]))
    item_id = int(raw["item_id"])
    spent = max(0, min(int(raw.get("time_spent_ms") or 0), MAX_TIME_SPENT_MS))
    try:
        info = _client_info(raw.get("client_info"))
    except ServiceError as exc:
        return _Answer(item_id, submission_id, None, spent, {}, exc)
    return _Answer(item_id, submission_id, raw.get("answer"), spent, info)


def annotation_submit(
    *,
    user,
    project: Project,
    item_id: int,
    submission_id: uuid.UUID,
    answer: dict,
    time_spent_ms: int = 0,
    client_info: dict | None = None,
) -> Annotation:
    """Store one answer (the batch path with one answer). Idempotent per submission_id (a replay returns the
    stored annotation with `was_created = False`). 404 for items not in the project or not leased by the user;
    409 for a second, different answer, or a late answer on an item that no longer needs votes.

    `annotation.feedback` is a PracticeFeedback (was the answer right, and the right answer) only when the
    user's lease marks the item as practice (qualification gold, see assignment.md); None otherwise, and on
    replays. Computing it costs no query: the lease and the item are loaded anyway."""
    raw = {"item_id": item_id, "submission_id": submission_id, "answer": answer, "time_spent_ms": time_spent_ms,
           "client_info": client_info}  # fmt: skip
    (outcome,) = annotations_submit(user=user, project=project, answers=[_answer(raw)])
    if outcome.error is not None:
        raise outcome.error
    return outcome.annotation


def annotations_submit_batch(*, user, project: Project, answers: list[dict]) -> list[dict]:
    """One result per answer, in order: {"item_id", "submission_id", "ok": bool, "annotation_id" |
    "status"+"code"+"detail"}, plus "feedback": {"correct", "expected"} on a stored answer to a practice item
    (and only there). Each answer is judged as if it were its own request, in order; a refused answer never
    costs the others."""
    if len(answers) > MAX_BATCH:
        raise ServiceError(f"At most {MAX_BATCH} answers per request.", code="batch_too_large")
    outcomes = annotations_submit(user=user, project=project, answers=[_answer(raw) for raw in answers])
    results = []
    for raw, outcome in zip(answers, outcomes, strict=True):
        entry = {"item_id": raw.get("item_id"), "submission_id": str(raw.get("submission_id"))}
        exc, annotation = outcome.error, outcome.annotation
        if exc is not None:
            results.append({**entry, "ok": False, "status": exc.status_code, "code": exc.code, "detail": exc.message})
            continue
        ok = {**entry, "ok": True, "annotation_id": annotation.pk, "created": annotation.was_created}
        if annotation.feedback is not None:
            ok["feedback"] = {"correct": annotation.feedback.correct, "expected": annotation.feedback.expected}
        results.append(ok)
    return results


def annotations_submit(*, user, project: Project, answers: list[_Answer]) -> list[SubmitOutcome]:
    """The vote path (design: annotations.md): N answers in one transaction and a constant number of statements.
    The N items are locked in id order; every answer is judged in order against what the answers before it
    did (`_plan`); the new ones go in with one INSERT … ON CONFLICT DO NOTHING; the online quality update runs
    for all of them (online.votes_counted / author_after_votes / items_after_votes); the leases go in one
    DELETE."""
    ids = sorted({a.item_id for a in answers if a.error is None})
    if not ids:
        return [SubmitOutcome(error=a.error) for a in answers]
    with transaction.atomic():
        locked = _lock(project=project, ids=ids)
        state = _State(locked=locked, user_id=user.pk)
        state.load(user=user, sids=[a.submission_id for a in answers if a.error is None])
        score = None
        if locked:  # annotator_may_label's rule, on the score row the vote updates anyway (locked once here)
            score = AnnotatorScore.objects.select_for_update().filter(project=project, user=user).first()
            state.blocked = score is not None and score.status == AnnotatorScore.Status.BLOCKED
            if project.task_type == Project.TaskType.CLASSIFY or project.detects:
                state.category_ids = set(project.categories.values_list("id", flat=True))
        plan = _plan(answers, project=project, state=state, blocked_from=0 if state.blocked else len(answers))
        created = {i: step[1] for i, step in enumerate(plan) if step[0] == "create"}
        conflicted: dict[int, SubmitOutcome] = {}
        if created:
            kept = _store(user=user, project=project, state=state, created=created, score=score, conflicted=conflicted,
                          answers=answers)  # fmt: skip
            if kept is not None:  # a gold answer blocked the author: the answers after it are refused
                plan = _plan(answers, project=project, state=state.fresh(), blocked_from=kept + 1)
                created = {i: a for i, a in created.items() if i <= kept}
        return _outcomes(plan, created, conflicted)


class _State:
    """What the answers are judged against: the locked items, the user's answers and leases on them, the
    stored answers holding the batch's submission ids (all read after the lock, so concurrent twins show)."""

    def __init__(self, *, locked: dict[int, Item], user_id: int) -> None:
        self.locked = locked
        self.user_id = user_id
        self.blocked = False
        self.category_ids: set[int] | None = None
        self.mine: dict[int, tuple[uuid.UUID, tuple]] = {}  # item id -> (submission id, ref)
        self.known: dict[uuid.UUID, tuple[int, int, tuple]] = {}  # submission id -> (user, item, ref)
        self.leases: dict[int, Lease] = {}
        self.others: dict[int, int] | None = None  # item id -> other users' active leases (late answers only)

    def load(self, *, user, sids: list[uuid.UUID]) -> None:
        ids = list(self.locked)
        rows = Annotation.objects.filter(Q(item_id__in=ids, user=user) | Q(submission_id__in=sids))
        for pk, sid, user_id, item_id in rows.values_list("id", "submission_id", "user_id", "item_id"):
            self.known[sid] = (user_id, item_id, ("db", pk))
            if user_id == user.pk and item_id in self.locked:
                self.mine[item_id] = (sid, ("db", pk))
        if ids:
            self.leases = {lease.item_id: lease for lease in Lease.objects.filter(item_id__in=ids, user=user)}
        self._base = (dict(self.mine), dict(self.known))

    def fresh(self) -> _State:
        self.mine, self.known = dict(self._base[0]), dict(self._base[1])
        return self

    def needs_votes(self, item: Item, now) -> bool:
        """May a late answer (expired lease) still count: gold always, open items while votes + others' active
        leases leave room (one query for the batch, only when some lease expired)."""
        if item.is_gold:
            return True
        if item.status != Item.Status.OPEN:
            return False
        if self.others is None:
            late = [pk for pk, lease in self.leases.items() if lease.expires_at <= now]
            counts = (
                Lease.objects.filter(item_id__in=late, expires_at__gt=now)
                .exclude(user_id=self.user_id)
                .values("item_id")
                .annotate(c=Count("id"))
                .values_list("item_id", "c")
            )
            self.others = dict(counts)
        return item.votes_count + self.others.get(item.pk, 0) < item.needed_votes


def _lock(*, project: Project, ids: list[int]) -> dict[int, Item]:
    """The batch's items of this project, locked in id order (one statement; concurrent batches never deadlock)."""
    rows = Item.objects.select_for_update(of=("self",)).select_related("image").filter(project=project, pk__in=ids)
    rows = with_model_vote(rows)  # the vote the decider folds, read with the rows (no statement of its own)
    locked = {}
    for item in rows.order_by("id"):
        item.project = project
        locked[item.pk] = item
    return locked


def _plan(answers: list[_Answer], *, project: Project, state: _State, blocked_from: int) -> list[tuple]:
    """Judge each answer in order, as the one-answer-per-request path did: ("error", exc), ("replay", ref) or
    ("create", Annotation). `ref` is ("db", id) or ("new", index of the answer in this batch that creates it).
    Answers from index `blocked_from` on are judged with the author blocked."""
    now = timezone.now()
    plan: list[tuple] = []
    for index, a in enumerate(answers):
        try:
            plan.append(_judge(index, a, project=project, state=state, blocked=index >= blocked_from, now=now))
        except ServiceError as exc:
            plan.append(("error", exc))
    return plan


def _judge(index: int, a: _Answer, *, project: Project, state: _State, blocked: bool, now) -> tuple:
    if a.error is not None:
        raise a.error
    item = state.locked.get(a.item_id)
    if item is None:
        return _reused(a, state, NotFound(_("No such item in this project."), code="item_not_found"))
    if item.pk in state.mine:
        sid, ref = state.mine[item.pk]
        if sid == a.submission_id:  # a retry (or a concurrent twin that won the lock)
            return ("replay", ref)
        raise Conflict(_("You have already answered this item."), code="already_answered")
    if blocked:
        raise ServiceError(_("You can no longer label in this project."), code="annotator_blocked", status_code=403)
    lease = state.leases.get(item.pk)
    if lease is None:
        return _reused(a, state, NotFound(_("This item is not assigned to you."), code="not_assigned"))
    if lease.expires_at <= now and not state.needs_votes(item, now):
        raise Conflict(_("Your assignment expired and the item has all its votes."), code="lease_expired")
    label, clean = answer_validate(project=project, item=item, answer=a.answer, category_ids=state.category_ids)
    if a.submission_id in state.known:  # the unique submission id would refuse the insert
        return _reused(a, state, Conflict(_("This answer was already recorded."), code="already_answered"))
    annotation = Annotation(item=item, user_id=state.user_id, submission_id=a.submission_id, label=label,
                            answer=clean, time_spent_ms=a.time_spent_ms, client_info=a.client_info)  # fmt: skip
    state.mine[item.pk] = (a.submission_id, ("new", index))
    state.known[a.submission_id] = (state.user_id, item.pk, ("new", index))
    return ("create", annotation)


def _reused(a: _Answer, state: _State, otherwise: ServiceError) -> tuple:
    """The stored answer with this submission id, as a replay (409 if it was for another item or user)."""
    known = state.known.get(a.submission_id)
    if known is None:
        raise otherwise
    user_id, item_id, ref = known
    if user_id != state.user_id or item_id != a.item_id:
        raise Conflict(_("This submission id was already used for another answer."), code="submission_id_reused")
    return ("replay", ref)


ANNOTATION_FIELDS = ["item", "user", "submission_id", "label", "answer", "time_spent_ms", "client_info", "created_at"]


def _store(
    *,
    user,
    project: Project,
    state: _State,
    created: dict[int, Annotation],
    score: AnnotatorScore | None,
    conflicted: dict[int, SubmitOutcome],
    answers: list[_Answer],
) -> int | None:
    """Insert the new answers, run the online quality update, drop the leases. Returns None, or the index of
    the gold answer that blocked the author (the answers created after it are removed again)."""
    now = timezone.now()
    for annotation in created.values():
        annotation.created_at = now
    rows = bulk_insert_returning(Annotation, list(created.values()), ANNOTATION_FIELDS, "submission_id")
    pks = {sid: pk for pk, sid in rows}
    stored: dict[int, Annotation] = {}
    for index, annotation in created.items():
        annotation.pk = pks.get(annotation.submission_id)
        if annotation.pk is None:  # a concurrent request stored this submission id first
            conflicted[index] = _after_conflict(user=user, answer=answers[index])
        else:
            stored[index] = annotation
    for index in conflicted:
        del created[index]
    votes = []
    for annotation in stored.values():
        item = state.locked[annotation.item_id]
        item.votes_count += 1  # saved by items_after_votes with the rest of the item's new state
        votes.append(NewVote(item=item, annotation_id=annotation.pk, label=annotation.label))
    if not votes:
        return None
    counted = votes_counted(project=project, item_ids=[vote.item.pk for vote in votes])
    kept = author_after_votes(project=project, user_id=user.pk, score=score, votes=votes)
    blocked_at = None
    if kept < len(votes):
        blocked_at = list(stored)[kept - 1]
        Annotation.objects.filter(pk__in=[vote.annotation_id for vote in votes[kept:]]).delete()
        votes = votes[:kept]
        votes_uncount(counted, user.pk)  # blocked: their earlier votes of this batch stop counting too
    annotator_live_after_votes(project=project, user_id=user.pk, votes=live_votes(votes, list(stored.values())[:kept]))
    items_after_votes(project=project, votes=votes, counted=counted)
    if project.reward_cents:  # a paid project: the answers' ledger entries, in this transaction (crowdpay)
        from crowdpay.services.ledger import earnings_record_answers

        earnings_record_answers(project=project, user_id=user.pk, annotation_ids=[v.annotation_id for v in votes],
                                author_blocked=blocked_at is not None)  # fmt: skip
    Lease.objects.filter(user=user, item_id__in=[vote.item.pk for vote in votes]).delete()
    for annotation in stored.values():
        item = state.locked[annotation.item_id]
        practice = state.leases[item.pk].practice
        annotation.feedback = practice_feedback(item=item, label=annotation.label, answer=annotation.answer) if (
            practice) else None  # fmt: skip
        annotation.was_created = True
    return blocked_at


def _after_conflict(*, user, answer: _Answer) -> SubmitOutcome:
    existing = Annotation.objects.filter(submission_id=answer.submission_id).first()
    if existing is None:
        return SubmitOutcome(error=Conflict(_("This answer was already recorded."), code="already_answered"))
    if existing.user_id != user.pk or existing.item_id != answer.item_id:
        return SubmitOutcome(error=Conflict(_("This submission id was already used for another answer."),
                                            code="submission_id_reused"))  # fmt: skip
    existing.was_created, existing.feedback = False, None
    return SubmitOutcome(annotation=existing)


def _outcomes(plan: list[tuple], created: dict[int, Annotation], conflicted: dict[int, SubmitOutcome]) -> list:
    stored_ids = [ref[1] for kind, ref in plan if kind == "replay" and ref[0] == "db"]
    stored = Annotation.objects.in_bulk(stored_ids) if stored_ids else {}
    outcomes = []
    for index, (kind, value) in enumerate(plan):
        if kind == "error":
            outcomes.append(SubmitOutcome(error=value))
        elif kind == "create":
            outcomes.append(conflicted[index] if index in conflicted else SubmitOutcome(annotation=created[index]))
        elif value[0] == "db":
            outcomes.append(SubmitOutcome(annotation=_replayed(stored[value[1]])))
        elif value[1] in conflicted:  # replay of an answer of this batch a concurrent request pre-empted
            outcomes.append(conflicted[value[1]])
        else:
            outcomes.append(SubmitOutcome(annotation=_replayed(created[value[1]])))
    return outcomes


def _replayed(annotation: Annotation) -> Annotation:
    replay = copy.copy(annotation)
    replay.was_created, replay.feedback = False, None
    return replay


def item_skip(*, user, project: Project, item_id: int) -> Skip:
    """Record a skip (the item is not offered to this user again for a while) and give back the lease."""
    with transaction.atomic():
        item = Item.objects.select_for_update(of=("self",)).filter(pk=item_id, project=project).first()
        if item is None:
            raise NotFound(_("No such item in this project."), code="item_not_found")
        deleted, _rows = Lease.objects.filter(item=item, user=user).delete()
        if not deleted:
            raise NotFound(_("This item is not assigned to you."), code="not_assigned")
        return Skip.objects.create(item=item, user=user)
