"""Submitting answers: validation per task type, idempotency, vote counting, skips."""

from __future__ import annotations

import json
import math
import uuid
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from annotate.exceptions import Conflict, NotFound, ServiceError
from labeling.models import Annotation, Category, Item, Lease, Project, Skip
from labeling.services.quality import annotator_may_label, item_after_vote, practice_feedback

MAX_BOXES = 200
MAX_BATCH = 100
MAX_TIME_SPENT_MS = 3_600_000
MAX_CLIENT_INFO_CHARS = 2000


def _invalid(message: str) -> ServiceError:
    return ServiceError(message, code="invalid_answer", status_code=400)


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise _invalid("Box coordinates must be finite numbers.")
    return float(value)


def answer_validate(*, project: Project, item: Item, answer: Any) -> tuple[int | None, dict]:
    """(integer label, normalised answer) for a raw answer, or a ServiceError saying what is wrong."""
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
        if not Category.objects.filter(pk=category_id, project=project).exists():
            raise _invalid(f"Category {category_id} is not a category of this project.")
        return category_id, {"category": category_id}
    # boxes
    if set(answer) != {"boxes"} or not isinstance(answer["boxes"], list):
        raise _invalid('A boxes answer is {"boxes": [[x, y, w, h], ...]} in original-image pixels.')
    boxes = answer["boxes"]
    if len(boxes) > MAX_BOXES:
        raise ServiceError(f"At most {MAX_BOXES} boxes per answer.", code="too_many_boxes", status_code=400)
    width, height = item.image.width, item.image.height
    clean = []
    for box in boxes:
        if not isinstance(box, list) or len(box) != 4:
            raise _invalid("Each box is [x, y, w, h].")
        x, y, w, h = (_number(v) for v in box)
        if w < 1 or h < 1:
            raise _invalid("A box must be at least 1 pixel wide and high (no negative or zero size).")
        if x < 0 or y < 0 or x + w > width + 1e-6 or y + h > height + 1e-6:
            raise _invalid(f"Box {box} lies outside the {width}x{height} image.")
        clean.append([round(x, 2), round(y, 2), round(w, 2), round(h, 2)])
    return None, {"boxes": clean}


def _client_info(client_info: dict | None) -> dict:
    if client_info is None:
        return {}
    if not isinstance(client_info, dict):
        raise ServiceError("client_info must be a JSON object.", code="invalid_client_info")
    if len(json.dumps(client_info, default=str)) > MAX_CLIENT_INFO_CHARS:
        raise ServiceError("client_info is too large.", code="invalid_client_info")
    return client_info


def _needs_votes(item: Item, *, user, now) -> bool:
    if item.is_gold:
        return True
    if item.status != Item.Status.OPEN:
        return False
    others = Lease.objects.filter(item=item, expires_at__gt=now).exclude(user=user).count()
    return item.votes_count + others < item.needed_votes


def _reused(*, user, item_id: int, submission_id: uuid.UUID) -> Annotation | None:
    """The stored answer with this submission id, as a replay (409 if it was for another item or user)."""
    existing = Annotation.objects.filter(submission_id=submission_id).first()
    if existing is None:
        return None
    if existing.user_id != user.id or existing.item_id != item_id:
        raise Conflict("This submission id was already used for another answer.", code="submission_id_reused")
    existing.was_created = False
    existing.feedback = None
    return existing


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
    """Store one answer. Idempotent per submission_id (a replay returns the stored annotation with
    `was_created = False`). 404 for items not in the project or not leased by the user; 409 for a
    second, different answer, or a late answer on an item that no longer needs votes.

    `annotation.feedback` is a PracticeFeedback (was the answer right, and the right answer) only when the
    user's lease marks the item as practice (qualification gold, see assignment.md); None otherwise, and on
    replays. Computing it costs no query: the lease and the item are loaded anyway.

    Hot path (every vote): the idempotency checks ride on the locked item — the user's earlier answer on it
    is the only replay that can succeed; a submission id reused elsewhere surfaces as the unique violation."""
    submission_id = uuid.UUID(str(submission_id))
    info = _client_info(client_info)
    spent = max(0, min(int(time_spent_ms or 0), MAX_TIME_SPENT_MS))
    with transaction.atomic():
        item = Item.objects.select_for_update(of=("self",)).select_related("image", "project")
        item = item.filter(pk=item_id, project=project).first()
        if item is None:
            reused = _reused(user=user, item_id=item_id, submission_id=submission_id)
            if reused is not None:
                return reused
            raise NotFound("No such item in this project.", code="item_not_found")
        mine = Annotation.objects.filter(item=item, user=user).first()
        if mine is not None:
            if mine.submission_id == submission_id:  # a retry (or a concurrent twin that won the lock)
                mine.was_created = False
                mine.feedback = None
                return mine
            raise Conflict("You have already answered this item.", code="already_answered")
        if not annotator_may_label(user=user, project=project):
            raise ServiceError("You can no longer label in this project.", code="annotator_blocked", status_code=403)
        lease = Lease.objects.filter(item=item, user=user).first()
        if lease is None:
            reused = _reused(user=user, item_id=item_id, submission_id=submission_id)
            if reused is not None:
                return reused
            raise NotFound("This item is not assigned to you.", code="not_assigned")
        now = timezone.now()
        if lease.expires_at <= now and not _needs_votes(item, user=user, now=now):
            lease.delete()
            raise Conflict("Your assignment expired and the item has all its votes.", code="lease_expired")
        label, clean = answer_validate(project=project, item=item, answer=answer)
        try:
            with transaction.atomic():
                annotation = Annotation.objects.create(
                    item=item,
                    user=user,
                    submission_id=submission_id,
                    label=label,
                    answer=clean,
                    time_spent_ms=spent,
                    client_info=info,
                )
        except IntegrityError as exc:
            reused = _reused(user=user, item_id=item_id, submission_id=submission_id)
            if reused is not None:
                return reused
            raise Conflict("This answer was already recorded.", code="already_answered") from exc
        item.votes_count += 1  # saved by item_after_vote with the rest of the item's new state
        lease.delete()
        item_after_vote(item=item)
        feedback = practice_feedback(item=item, label=label, answer=clean) if lease.practice else None
    annotation.was_created = True
    annotation.feedback = feedback
    return annotation


def annotations_submit_batch(*, user, project: Project, answers: list[dict]) -> list[dict]:
    """Each answer independently (its own transaction): one result per answer, in order:
    {"item_id", "submission_id", "ok": bool, "annotation_id" | "status"+"code"+"detail"}, plus
    "feedback": {"correct", "expected"} on a stored answer to a practice item (and only there)."""
    if len(answers) > MAX_BATCH:
        raise ServiceError(f"At most {MAX_BATCH} answers per request.", code="batch_too_large")
    results = []
    for raw in answers:
        entry = {"item_id": raw.get("item_id"), "submission_id": str(raw.get("submission_id"))}
        try:
            annotation = annotation_submit(
                user=user,
                project=project,
                item_id=raw["item_id"],
                submission_id=raw["submission_id"],
                answer=raw.get("answer"),
                time_spent_ms=raw.get("time_spent_ms", 0),
                client_info=raw.get("client_info"),
            )
        except ServiceError as exc:
            results.append({**entry, "ok": False, "status": exc.status_code, "code": exc.code, "detail": exc.message})
        else:
            ok = {**entry, "ok": True, "annotation_id": annotation.pk, "created": annotation.was_created}
            if annotation.feedback is not None:
                ok["feedback"] = {"correct": annotation.feedback.correct, "expected": annotation.feedback.expected}
            results.append(ok)
    return results


def item_skip(*, user, project: Project, item_id: int) -> Skip:
    """Record a skip (the item is not offered to this user again for a while) and give back the lease."""
    with transaction.atomic():
        item = Item.objects.select_for_update(of=("self",)).filter(pk=item_id, project=project).first()
        if item is None:
            raise NotFound("No such item in this project.", code="item_not_found")
        deleted, _ = Lease.objects.filter(item=item, user=user).delete()
        if not deleted:
            raise NotFound("This item is not assigned to you.", code="not_assigned")
        return Skip.objects.create(item=item, user=user)
