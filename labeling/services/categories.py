"""Category import (CSV or JSON with name, definition, wnid, parent) and edits, through `category_upsert`."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db import transaction
from django.utils.translation import gettext as _

from annotate.bounded import BoundedError, CsvProblem, Limits, decode_text, read_csv, read_json
from annotate.exceptions import ServiceError
from labeling.models import Annotation, Category, DatasetVersionItem, Project, ProjectClass
from labeling.services.projects import category_upsert, unknown_parent_message, wnid_clean
from labeling.services.quality.opinions import model_opinions_invalidate

MAX_IMPORT_BYTES = 5 * 1024 * 1024
FIELDS = ("name", "definition", "wnid", "parent")
LIMITS = Limits(max_bytes=MAX_IMPORT_BYTES, max_rows=100_000)


@dataclass
class ImportResult:
    created: int = 0
    updated: int = 0
    errors: list[str] = field(default_factory=list)


def _rows(data: bytes, filename: str) -> list[dict]:
    """The rows of a category file, read through annotate.bounded (size, depth, number and field limits). A CSV
    row that cannot be read comes back as {"_error": reason} and is reported on its own."""
    try:
        text = decode_text(data, LIMITS, "The category file")
        if filename.lower().endswith(".json") or text.lstrip().startswith(("[", "{")):
            parsed = read_json(text, LIMITS, "The category file")
            if isinstance(parsed, dict):
                parsed = parsed.get("categories", [])
            if not isinstance(parsed, list) or not all(isinstance(r, dict) for r in parsed):
                raise ServiceError(
                    _("JSON must be a list of objects with name, definition, wnid, parent."), code="invalid_file"
                )
            return parsed
        rows: list[list[str] | dict] = []
        for row in read_csv(text, LIMITS):
            if isinstance(row, CsvProblem):
                rows.append({"_error": row.message})
            elif any(c.strip() for c in row.cells):
                rows.append(row.cells)
    except BoundedError as exc:
        if exc.code == "too_large":
            raise ServiceError(_("The category file is larger than 5 MB."), code="too_large") from exc
        raise ServiceError(
            _("The category file cannot be read: %(reason)s") % {"reason": exc.message}, code="invalid_file"
        ) from exc
    if not rows:
        return []
    header = [c.strip().lower() for c in rows[0]] if isinstance(rows[0], list) else []
    if "name" in header:
        return [r if isinstance(r, dict) else dict(zip(header, r, strict=False)) for r in rows[1:]]
    return [r if isinstance(r, dict) else dict(zip(FIELDS, r, strict=False)) for r in rows]


@transaction.atomic
def categories_import(*, project: Project, data: bytes, filename: str = "") -> ImportResult:
    """Create or update categories; parents may appear after their children. Bad rows are reported, not fatal."""
    result = ImportResult()
    existing = set(Category.objects.filter(project=project).values_list("name", flat=True))
    rows = _rows(data, filename)
    known = existing | {_cell(row.get("name")) for row in rows}
    for number, row in enumerate(rows, start=1):
        if "_error" in row and isinstance(row["_error"], str) and set(row) == {"_error"}:
            result.errors.append(f"Row {number}: {row['_error']}.")
            continue
        spec = {k: _cell(row.get(k)) for k in FIELDS}
        if any("\x00" in v for v in spec.values()):  # "\u0000" in JSON: PostgreSQL text cannot hold it
            result.errors.append(_("Row %(n)s: a value contains a NUL character.") % {"n": number})
            continue
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


def _cell(value: object) -> str:
    """A row's value as text: text or a number; nothing else (a list, a dict) is a value."""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, int | float) and not isinstance(value, bool) and abs(value) < 10**30:
        return str(value)
    return ""


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
    renamed = (category.name, category.wnid) != (name, wnid)
    category.name, category.definition, category.wnid, category.parent = name, definition, wnid, parent
    category.save(update_fields=["name", "definition", "wnid", "parent"])
    if renamed:  # the answer means something else now: the models' opinions of it are void
        model_opinions_invalidate(project_id=category.project_id)
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


@transaction.atomic
def category_delete(*, category: Category) -> None:
    """Delete a category that nothing depends on. Refused (409) while crowd work or a published version names
    it: a vote on one of its verify items, a classify vote for it, a dataset version's rows or the project's
    class index (a category keeps its index for ever). Its items without votes go with it; its children
    move up to its parent."""
    # Lock the project: a version being created concurrently would otherwise index the category we delete.
    Project.objects.select_for_update(no_key=True).filter(pk=category.project_id).first()
    if (
        ProjectClass.objects.filter(category=category).exists()
        or DatasetVersionItem.objects.filter(category=category).exists()
    ):
        raise ServiceError(
            _("Category %(name)s is part of a published dataset version and keeps its class index; it cannot be "
              "deleted.") % {"name": category.name},
            code="category_in_version", status_code=409,
        )  # fmt: skip
    votes = Annotation.objects.filter(item__project_id=category.project_id)
    if votes.filter(item__category=category).exists() or (
        Project.objects.filter(pk=category.project_id, task_type=Project.TaskType.CLASSIFY).exists()
        and votes.filter(label=category.pk).exists()
    ):
        raise ServiceError(
            _("Category %(name)s has volunteers' votes; deleting it would destroy their work.")
            % {"name": category.name},
            code="category_has_votes", status_code=409,
        )  # fmt: skip
    Category.objects.filter(parent=category).update(parent=category.parent_id)
    category.delete()
    model_opinions_invalidate(project_id=category.project_id)  # their class space had it
