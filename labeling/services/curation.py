"""Curator writes on items (researchers and reviewers of the project): send to review, gold, dataset exclusion.

Each bulk action takes item ids already scoped to one project (labeling.selectors.curation.curation_items_by_ids),
changes each item and logs one CurationAction per item, all in one transaction: a bulk action is all or nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from annotate.exceptions import ServiceError
from labeling.models import CurationAction, Item, Project
from labeling.services.quality import gold_set, label_validate

MAX_BULK = 1000


@dataclass(frozen=True)
class BulkResult:
    action: str
    changed: list[int]
    unchanged: list[int]


def _locked(project: Project, item_ids: Sequence[int]) -> list[Item]:
    ids = sorted({int(i) for i in item_ids})
    if not ids:
        raise ServiceError("Select at least one item.", code="no_items")
    if len(ids) > MAX_BULK:
        raise ServiceError(f"At most {MAX_BULK} items per action.", code="too_many_items")
    items = list(Item.objects.select_for_update().filter(project=project, pk__in=ids).order_by("id"))
    if len(items) != len(ids):
        missing = sorted(set(ids) - {i.pk for i in items})
        raise ServiceError(f"No items {missing[:10]} in this project.", code="item_not_found", status_code=404)
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
        Item.objects.filter(pk__in=[i.pk for i in todo]).update(
            status=Item.Status.REVIEW, review_reason=Item.ReviewReason.CURATOR, updated_at=timezone.now()
        )
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
