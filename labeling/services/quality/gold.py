"""Known answers: make an item gold, validate labels, and the practice feedback on qualification gold.

Bulk import from files (CSV / JSON) lives in gold_import.py and ends in `gold_set` / `gold_boxes_set` here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _

from annotate.exceptions import ServiceError
from labeling.algorithms.boxes import boxes_agree, detections_agree
from labeling.models import Item, Project
from labeling.services.quality.engine import project_classes
from labeling.services.quality.transitions import Caller, item_save


def label_validate(*, project: Project, label: int | None) -> int:
    """A label value valid in the project: verify 0/1, classify a category id or -1 (none)."""
    if isinstance(label, bool) or not isinstance(label, int):
        raise ServiceError("The label must be an integer.", code="invalid_label")
    if project.task_type == Project.TaskType.BOXES:
        raise ServiceError("Box projects have no integer labels.", code="invalid_label")
    allowed = project_classes(project, [-1]) if project.task_type == Project.TaskType.CLASSIFY else [0, 1]
    if label not in allowed:
        raise ServiceError(_("Label %(label)s is not valid in this project.") % {"label": label}, code="invalid_label")
    return label


def gold_set(*, item: Item, label: int | None) -> Item:
    """Make the item gold with `label` (None removes its gold status). Gold is clamped in every aggregation."""
    project = item.project
    with transaction.atomic():
        item = Item.objects.select_for_update().get(pk=item.pk)
        if label is None:
            was_gold = item.is_gold
            item.is_gold, item.gold_label = False, None
            item_save(caller=Caller.GOLD, item=item, fields=["is_gold", "gold_label"], before=item.status)
            if was_gold and item.status not in (Item.Status.ACCEPTED, Item.Status.REJECTED):
                from labeling.services.quality.online import item_evaluate  # online imports this package

                # Its one-hot gold posterior is no consensus: decide it from its votes, like any item (finding 19).
                item_evaluate(item=item, project=project, caller=Caller.GOLD)
            return item
        label = label_validate(project=project, label=label)
        classes = project_classes(project, [label])
        item.is_gold, item.gold_label, item.label, item.confidence = True, label, label, 1.0
        item.posterior = {str(c): float(c == label) for c in classes}
        item_save(caller=Caller.GOLD, item=item, fields=["is_gold", "gold_label", "label", "confidence", "posterior"],
                  before=item.status)  # fmt: skip
    return item


def gold_boxes_set(*, item: Item, boxes: Any) -> Item:
    """Make a box item gold with `boxes` ([[x, y, w, h], ...] in original-image pixels, validated like a
    volunteer's answer, with a category each in detection projects; an empty list means "nothing to draw")."""
    from labeling.services.annotations import answer_validate  # annotations imports this package

    project = item.project
    if project.task_type != Project.TaskType.BOXES:
        raise ServiceError("Only box projects have box gold.", code="invalid_label")
    with transaction.atomic():
        item = Item.objects.select_for_update().select_related("image").get(pk=item.pk)
        try:
            _, clean = answer_validate(project=project, item=item, answer={"boxes": boxes})
        except ServiceError as exc:
            raise ServiceError(exc.message, code="invalid_boxes") from exc
        item.is_gold, item.gold_answer, item.answer, item.confidence = True, clean, clean, 1.0
        item_save(caller=Caller.GOLD, item=item, fields=["is_gold", "gold_answer", "answer", "confidence"],
                  before=item.status)  # fmt: skip
    return item


@dataclass(frozen=True)
class PracticeFeedback:
    """What a volunteer learns after answering a practice (qualification) item: whether they were right, and
    the right answer in the shape of an answer ({"label": 0|1}, {"category": id|None}, {"boxes": [...]})."""

    correct: bool
    expected: dict


def practice_feedback(*, item: Item, label: int | None, answer: dict) -> PracticeFeedback | None:
    """The feedback for an answer on a gold item (None when the item holds no usable known answer).
    The caller decides whether the item is practice for this volunteer (the lease says so); nothing else
    may call this for a volunteer's answer."""
    if not item.is_gold:
        return None
    if item.project.task_type == Project.TaskType.BOXES:
        expected = (item.gold_answer or {}).get("boxes")
        if not isinstance(expected, list):
            return None
        given = answer.get("boxes") or []
        if item.project.detects:  # stored detection boxes are [x, y, w, h, category]
            correct = detections_agree([b[:4] for b in given], [b[4] for b in given],
                                       [b[:4] for b in expected], [b[4] for b in expected])  # fmt: skip
        else:
            correct = boxes_agree(given, expected)
        return PracticeFeedback(correct=correct, expected={"boxes": expected})
    if item.gold_label is None:
        return None
    if item.project.task_type == Project.TaskType.VERIFY:
        expected_answer: dict = {"label": item.gold_label}
    else:
        expected_answer = {"category": None if item.gold_label == -1 else item.gold_label}
    return PracticeFeedback(correct=label == item.gold_label, expected=expected_answer)
