"""Curator writes on items (researchers and reviewers of the project): send to review, gold, dataset exclusion.

Each bulk action takes item ids already scoped to one project (labeling.selectors.curation.curation_items_by_ids),
changes each item and logs one CurationAction per item, all in one transaction: a bulk action is all or nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from annotate.exceptions import ServiceError
from labeling.models import Category, CurationAction, Item, Project
from labeling.services.quality import gold_set, label_validate
from labeling.services.quality.transitions import Caller, items_write

MAX_BULK = 1000


@dataclass(frozen=True)
class BulkResult:
    action: str
    changed: list[int]
    unchanged: list[int]


def _locked(project: Project, item_ids: Sequence[int]) -> list[Item]:
    ids = sorted({int(i) for i in item_ids})
    if not ids:
        raise ServiceError(_("Select at least one item."), code="no_items")
    if len(ids) > MAX_BULK:
        raise ServiceError(_("At most %(n)s items per action.") % {"n": MAX_BULK}, code="too_many_items")
    items = list(Item.objects.select_for_update().filter(project=project, pk__in=ids).order_by("id"))
    if len(items) != len(ids):
        missing = sorted(set(ids) - {i.pk for i in items})
        raise ServiceError(
            _("No items %(ids)s in this project.") % {"ids": missing[:10]}, code="item_not_found", status_code=404
        )
    return items


def _log(items: list[Item], *, user, action: str, label: int | None = None, before: dict[int, str]) -> None:
    CurationAction.objects.bulk_create(
        [CurationAction(item=i, user=user, action=action, label=label, previous_status=before[i.pk]) for i in items]
    )


def items_send_to_review(*, project: Project, item_ids: Sequence[int], user) -> BulkResult:
    """Put items in the review queue (status review, reason curator). Gold items and items already in review stay."""
    with transaction.atomic():
        items = _locked(project, item_ids)
        todo = [i for i in items if i.status != Item.Status.REVIEW and not i.is_gold]
        before = {i.pk: i.status for i in todo}
        for i in todo:
            i.status, i.review_reason = Item.Status.REVIEW, Item.ReviewReason.CURATOR
        items_write(caller=Caller.CURATION, items=todo, fields=["status", "review_reason"], before=before)
        _log(todo, user=user, action=CurationAction.Action.SEND_TO_REVIEW, before=before)
    changed = [i.pk for i in todo]
    return BulkResult("review", changed, [i.pk for i in items if i.pk not in set(changed)])


def items_mark_gold(*, project: Project, item_ids: Sequence[int], label: int | None, user) -> BulkResult:
    """Make items gold with `label` through quality.gold_set (None removes gold status)."""
    if label is not None:
        label = label_validate(project=project, label=label)
    action = CurationAction.Action.GOLD if label is not None else CurationAction.Action.UNGOLD
    with transaction.atomic():
        items = _locked(project, item_ids)
        before = {i.pk: i.status for i in items}
        for item in items:
            item.project = project
            gold_set(item=item, label=label)
        if label is not None:  # a gold item's image is never an example (it would show the answer)
            Category.example_images.through.objects.filter(
                category__project=project, image_id__in=[i.image_id for i in items]
            ).delete()
        _log(items, user=user, action=action, label=label, before=before)
    return BulkResult(action.value, [i.pk for i in items], [])


def items_set_excluded(*, project: Project, item_ids: Sequence[int], excluded: bool, user) -> BulkResult:
    """Leave items out of (or put them back into) new dataset versions; published versions never change."""
    with transaction.atomic():
        items = _locked(project, item_ids)
        todo = [i for i in items if i.excluded != excluded]
        Item.objects.filter(pk__in=[i.pk for i in todo]).update(excluded=excluded, updated_at=timezone.now())
        action = CurationAction.Action.EXCLUDE if excluded else CurationAction.Action.INCLUDE
        _log(todo, user=user, action=action, before={i.pk: i.status for i in todo})
    changed = [i.pk for i in todo]
    return BulkResult(action.value, changed, [i.pk for i in items if i.pk not in set(changed)])


MAX_EXAMPLES = 6  # what the labeling page shows per category (labeling/api/labeling.py)


def _example_category(project: Project, item: Item) -> int | None:
    """The category an item's image is a confident positive of, or None."""
    if item.is_gold or item.status not in (Item.Status.DONE, Item.Status.ACCEPTED):
        return None
    if item.status == Item.Status.DONE and (item.confidence or 0.0) < project.confidence_target:
        return None
    if project.task_type == Project.TaskType.VERIFY:
        return item.category_id if item.label == 1 else None
    if project.task_type == Project.TaskType.CLASSIFY:
        return item.label if item.label is not None and item.label >= 0 else None
    return item.category_id if item.answer else None


def items_set_examples(*, project: Project, item_ids: Sequence[int], example: bool, user) -> BulkResult:
    """Make the items' images example images of their category (shown to volunteers beside the question), or stop.

    Only accepted items, or done ones at the confidence target, that are positives of a category qualify, and
    never gold (an example shows its answer). At most MAX_EXAMPLES per category. All or nothing."""
    with transaction.atomic():
        items = _locked(project, item_ids)
        by_category: dict[int, list[Item]] = {}
        for item in items:
            category = _example_category(project, item) if example else (item.category_id or item.label)
            if category is None:
                raise ServiceError(
                    _("Item %(id)s is not an accepted (or confident) positive of a category, or is gold.")
                    % {"id": item.pk},
                    code="not_an_example",
                )
            by_category.setdefault(category, []).append(item)
        changed = []
        categories = Category.objects.select_for_update().filter(project=project, pk__in=list(by_category))
        for category in categories.order_by("id"):
            current = set(category.example_images.values_list("id", flat=True))
            mine = by_category[category.pk]
            todo = [i for i in mine if (i.image_id not in current) == example]
            if example and len(current) + len({i.image_id for i in todo}) > MAX_EXAMPLES:
                text = _("%(category)s would have more than %(n)s example images.")
                raise ServiceError(text % {"category": category.name, "n": MAX_EXAMPLES}, code="too_many_examples")
            images = [i.image_id for i in todo]
            (category.example_images.add if example else category.example_images.remove)(*images)
            action = CurationAction.Action.EXAMPLE if example else CurationAction.Action.UNEXAMPLE
            _log(todo, user=user, action=action, label=category.pk, before={i.pk: i.status for i in todo})
            changed += [i.pk for i in todo]
    action = CurationAction.Action.EXAMPLE if example else CurationAction.Action.UNEXAMPLE
    return BulkResult(action.value, sorted(changed), sorted(set(i.pk for i in items) - set(changed)))
