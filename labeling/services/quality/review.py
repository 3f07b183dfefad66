"""Review actions (reviewer role): accept the consensus, reject the item, or fix its label or boxes (which makes it
gold)."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _

from annotate.exceptions import Conflict, ServiceError
from labeling.models import Item, Project, ReviewAction
from labeling.services.quality import gold_boxes_set, gold_set, label_validate
from labeling.services.quality.engine import project_classes
from labeling.services.quality.transitions import Caller, item_save


def _locked(item: Item) -> Item:
    return Item.objects.select_for_update().select_related("project").get(pk=item.pk)


def _log(item: Item, reviewer, action: str, label: int | None, before: tuple) -> ReviewAction:
    return ReviewAction.objects.create(
        item=item, reviewer=reviewer, action=action, label=label, previous_label=before[0], previous_status=before[1]
    )


def review_accept(*, item: Item, reviewer) -> Item:
    """The consensus label stands; the item is final (clamped in EM, a checked item for calibration)."""
    with transaction.atomic():
        item = _locked(item)
        if item.project.task_type == Project.TaskType.BOXES:
            if not item.answer:
                raise Conflict(_("This item has no consensus boxes to accept yet."), code="no_consensus")
        elif item.label is None:
            raise Conflict(_("This item has no consensus label to accept yet; fix it instead."), code="no_consensus")
        before = (item.label, item.status)
        item.status = Item.Status.ACCEPTED
        item_save(caller=Caller.REVIEW, item=item, fields=["status"], before=before[1])
        _log(item, reviewer, ReviewAction.Action.ACCEPT, item.label, before)
    return item


def review_reject(*, item: Item, reviewer) -> Item:
    """Verify: the image does not show the category (label 0). Otherwise: the image is out of the label space."""
    with transaction.atomic():
        item = _locked(item)
        before = (item.label, item.status)
        item.status = Item.Status.REJECTED
        fields = ["status", "updated_at"]
        if item.project.task_type == Project.TaskType.VERIFY:
            item.label, item.confidence, item.posterior = 0, 1.0, {"0": 1.0, "1": 0.0}
            fields += ["label", "confidence", "posterior"]
        item_save(caller=Caller.REVIEW, item=item, fields=fields, before=before[1])
        _log(item, reviewer, ReviewAction.Action.REJECT, item.label, before)
    return item


def review_fix(*, item: Item, reviewer, label: int | None = None, boxes: Any = None) -> Item:
    """Set the right answer; the item becomes gold (it scores annotators from now on) and is accepted.
    Verify / classify take `label`; box projects take `boxes`, the corrected set (moved, resized, deleted,
    added and, in detection projects, relabelled boxes: [{"x", "y", "w", "h", "category"}, ...]), which become
    both the gold answer and the item's consensus boxes."""
    project = item.project
    if project.task_type == Project.TaskType.BOXES:
        if boxes is None:
            raise ServiceError(_("A box fix needs the corrected boxes."), code="invalid_boxes")
    elif label is None:
        raise ServiceError(_("Pick a label to fix the item with."), code="invalid_label")
    else:
        label = label_validate(project=project, label=label)
    with transaction.atomic():
        locked = _locked(item)
        before = (locked.label, locked.status)
        if boxes is not None:
            gold_boxes_set(item=locked, boxes=boxes)
        else:
            gold_set(item=locked, label=label)
        locked.refresh_from_db()
        status_now = locked.status
        locked.status = Item.Status.ACCEPTED
        item_save(caller=Caller.REVIEW, item=locked, fields=["status"], before=status_now)
        _log(locked, reviewer, ReviewAction.Action.FIX, label, before)
    return locked


def review_choices(*, project: Project) -> list[tuple[int, str]]:
    """(label, name) pairs a reviewer may pick from when fixing."""
    if project.task_type == Project.TaskType.VERIFY:
        return [(1, _("yes")), (0, _("no"))]
    names = dict(project.categories.values_list("id", "name"))
    return [(c, names.get(c, _("none"))) for c in project_classes(project, [-1])]
