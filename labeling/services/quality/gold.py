"""Known answers: make an item gold, validate labels, import gold in bulk."""

from __future__ import annotations

from django.db import transaction

from annotate.exceptions import NotFound, ServiceError
from labeling.models import Item, Project
from labeling.services.quality.engine import project_classes


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
