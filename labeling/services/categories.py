"""Category import (CSV or JSON with name, definition, wnid, parent) and edits, through `category_upsert`."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field

from django.db import transaction
from django.utils.translation import gettext as _

from annotate.exceptions import ServiceError
from labeling.models import Category, Project
from labeling.services.projects import category_upsert, unknown_parent_message, wnid_clean

MAX_IMPORT_BYTES = 5 * 1024 * 1024
FIELDS = ("name", "definition", "wnid", "parent")


@dataclass
class ImportResult:
    created: int = 0
    updated: int = 0
    errors: list[str] = field(default_factory=list)


def _rows(data: bytes, filename: str) -> list[dict]:
    if len(data) > MAX_IMPORT_BYTES:
        raise ServiceError(_("The category file is larger than 5 MB."), code="too_large")
    text = data.decode("utf-8-sig", errors="replace")
    if "\x00" in text:
        # PostgreSQL text cannot hold NUL; a NUL byte also means this is not a CSV/JSON text file.
        raise ServiceError(
            _("The category file contains NUL bytes: upload a UTF-8 CSV or JSON file."), code="invalid_file"
        )
    if filename.lower().endswith(".json") or text.lstrip().startswith(("[", "{")):
        try:
            parsed = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ServiceError(
                _("Invalid JSON: %(error)s (line %(line)s).") % {"error": exc.msg, "line": exc.lineno},
                code="invalid_file",
            ) from exc
        if isinstance(parsed, dict):
            parsed = parsed.get("categories", [])
        if not isinstance(parsed, list) or not all(isinstance(r, dict) for r in parsed):
            raise ServiceError(
                _("JSON must be a list of objects with name, definition, wnid, parent."), code="invalid_file"
            )
        return parsed
    reader = csv.reader(io.StringIO(text))
    rows = [r for r in reader if any(c.strip() for c in r)]
    if not rows:
        return []
    header = [c.strip().lower() for c in rows[0]]
    if "name" in header:
        return [dict(zip(header, r, strict=False)) for r in rows[1:]]
    return [dict(zip(FIELDS, r, strict=False)) for r in rows]


@transaction.atomic
def categories_import(*, project: Project, data: bytes, filename: str = "") -> ImportResult:
    """Create or update categories; parents may appear after their children. Bad rows are reported, not fatal."""
    result = ImportResult()
    existing = set(Category.objects.filter(project=project).values_list("name", flat=True))
    rows = _rows(data, filename)
    known = existing | {str(row.get("name") or "").strip() for row in rows}
    for number, row in enumerate(rows, start=1):
        spec = {k: str(row.get(k) or "").strip() for k in FIELDS}
        if spec["parent"] == spec["name"]:
            spec["parent"] = ""
        if len(spec["parent"]) > 200:
            result.errors.append(f"Row {number}: the parent name is longer than 200 characters.")
            continue
        if spec["parent"] and spec["parent"] not in known:  # a typo would silently make a new category
            result.errors.append(f"Row {number}: {unknown_parent_message(spec['name'], spec['parent'])}")
            continue
        try:
            category_upsert(project=project, **{**spec, "parent": spec["parent"] or None})
        except ServiceError as exc:
            result.errors.append(f"Row {number}: {exc.message}")
            continue
        if spec["name"] in existing:
            result.updated += 1
        else:
            existing.add(spec["name"])
            result.created += 1
    return result


def category_update(
    *, category: Category, name: str, definition: str = "", wnid: str = "", parent: Category | None = None
) -> Category:
    name = (name or "").strip()
    if not name or len(name) > 200:
        raise ServiceError(_("A category needs a name of 1 to 200 characters."), code="invalid_category")
    if Category.objects.filter(project=category.project_id, name=name).exclude(pk=category.pk).exists():
        raise ServiceError(
            _("Another category is already called %(name)r.") % {"name": name}, code="name_taken", status_code=409
        )
    if parent is not None and (parent.project_id != category.project_id or _is_descendant(parent, category)):
        raise ServiceError(
            _("The parent must be another category of this project, not a descendant."), code="bad_parent"
        )
    wnid = wnid_clean(wnid)
    category.name, category.definition, category.wnid, category.parent = name, definition, wnid, parent
    category.save(update_fields=["name", "definition", "wnid", "parent"])
    return category


def _is_descendant(candidate: Category, ancestor: Category) -> bool:
    node: Category | None = candidate
    for _step in range(100):
        if node is None:
            return False
        if node.pk == ancestor.pk:
            return True
        node = node.parent
    return True


def category_delete(*, category: Category) -> None:
    category.delete()
