"""Validation of box answers (volunteers' votes, gold, review fixes and imports share it).

Single-class projects (box_mode single): {"boxes": [[x, y, w, h], ...]}. Detection projects (box_mode detect):
{"boxes": [{"x", "y", "w", "h", "category"}, ...]}, each category an id of the project (a five-number list
[x, y, w, h, category] is accepted too, which is how answers are stored: the shape dataset versions read).
Coordinates are original-image pixels; an empty list means "nothing to mark".
"""

from __future__ import annotations

import math
from typing import Any

from annotate.exceptions import ServiceError
from labeling.models import Category, Item, Project

MAX_BOXES = 200
BOX_KEYS = {"x", "y", "w", "h", "category"}


def _invalid(message: str) -> ServiceError:
    return ServiceError(message, code="invalid_answer", status_code=400)


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise _invalid("Box coordinates must be finite numbers.")
    return float(value)


def _detect_box(box: Any) -> tuple[list[Any], Any]:
    """([x, y, w, h], category) of one detection box, as a dict or a five-item list."""
    if isinstance(box, dict):
        if set(box) != BOX_KEYS:
            raise _invalid('Each box is {"x", "y", "w", "h", "category"}.')
        return [box["x"], box["y"], box["w"], box["h"]], box["category"]
    if isinstance(box, list) and len(box) == 5:
        return box[:4], box[4]
    raise _invalid('Each box is {"x", "y", "w", "h", "category"} with a category id of this project.')


def boxes_validate(*, project: Project, item: Item, answer: dict, category_ids: set[int] | None = None) -> dict:
    """The normalised box answer: coordinates rounded to 0.01 px; detection boxes as [x, y, w, h, category].
    `category_ids` (the project's) spares a query when the caller holds them."""
    detect = project.detects
    shape = '{"x", "y", "w", "h", "category"}' if detect else "[x, y, w, h]"
    if set(answer) != {"boxes"} or not isinstance(answer["boxes"], list):
        raise _invalid(f'A boxes answer is {{"boxes": [{shape}, ...]}} in original-image pixels.')
    boxes = answer["boxes"]
    if len(boxes) > MAX_BOXES:
        raise ServiceError(f"At most {MAX_BOXES} boxes per answer.", code="too_many_boxes", status_code=400)
    width, height = item.image.width, item.image.height
    clean = []
    wanted: set[int] = set()
    for box in boxes:
        if detect:
            coords, category = _detect_box(box)
            if isinstance(category, bool) or not isinstance(category, int):
                raise _invalid("Each box's category must be a category id of this project.")
            wanted.add(category)
        else:
            if not isinstance(box, list) or len(box) != 4:
                raise _invalid("Each box is [x, y, w, h].")
            coords, category = box, None
        x, y, w, h = (_number(v) for v in coords)
        if w < 1 or h < 1:
            raise _invalid("A box must be at least 1 pixel wide and high (no negative or zero size).")
        if x < 0 or y < 0 or x + w > width + 1e-6 or y + h > height + 1e-6:
            raise _invalid(f"Box {box} lies outside the {width}x{height} image.")
        out = [round(x, 2), round(y, 2), round(w, 2), round(h, 2)]
        clean.append(out if category is None else [*out, category])
    if wanted:
        known = category_ids if category_ids is not None else set(
            Category.objects.filter(project=project, pk__in=wanted).values_list("id", flat=True))  # fmt: skip
        unknown = sorted(wanted - known)
        if unknown:
            raise _invalid(f"Categories {unknown} are not categories of this project.")
    return {"boxes": clean}
