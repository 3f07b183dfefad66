"""Project and category writes."""

from __future__ import annotations

import re
from collections.abc import Iterable

from django.db import transaction
from django.utils.text import slugify
from django.utils.translation import gettext as _

from annotate.db import bulk_update_values
from annotate.exceptions import ServiceError
from labeling.models import Category, Project
from labeling.services.quality.opinions import model_opinions_invalidate

# The most categories a project is created with (the API, the HTML form and `create_project` share it):
# ImageNet-21k's leaves fit; each is one row of a bulk insert, so the largest project is created in seconds.
MAX_CATEGORIES = 25_000
CATEGORY_NAME_MAX = 200


@transaction.atomic
def project_create(
    *,
    slug: str,
    task_type: str = Project.TaskType.VERIFY,
    box_mode: str = Project.BoxMode.SINGLE,
    name: str = "",
    owner=None,
    instructions: str = "",
    min_votes: int = 3,
    max_votes: int | None = None,
    confidence_target: float = 0.95,
    gold_rate: float = 0.1,
    audit_rate: float = 0.05,
    visibility: str = Project.Visibility.PUBLIC,
    categories: Iterable[dict] = (),
) -> Project:
    specs = list(categories)
    if len(specs) > MAX_CATEGORIES:
        raise ServiceError(
            _("A project has at most %(n)s categories.") % {"n": MAX_CATEGORIES}, code="too_many_categories"
        )
    if slugify(slug) != slug or not slug:
        raise ServiceError(
            _("Invalid slug %(slug)r: use lowercase letters, digits and hyphens.") % {"slug": slug}, code="invalid_slug"
        )
    if task_type not in Project.TaskType.values:
        raise ServiceError(f"Unknown task type {task_type!r}.", code="invalid_task_type")
    if box_mode not in Project.BoxMode.values:
        raise ServiceError(f"Unknown box mode {box_mode!r}.", code="invalid_box_mode")
    if box_mode == Project.BoxMode.DETECT and task_type != Project.TaskType.BOXES:
        raise ServiceError(_("Only box projects detect (a category per box)."), code="invalid_box_mode")
    if Project.objects.filter(slug=slug).exists():
        raise ServiceError(
            _("A project with slug %(slug)r already exists.") % {"slug": slug}, code="slug_taken", status_code=409
        )
    max_votes = max(max_votes or min_votes * 2 + 1, min_votes)
    project = Project.objects.create(
        slug=slug,
        name=name or slug,
        task_type=task_type,
        box_mode=box_mode,
        instructions=instructions,
        min_votes=min_votes,
        max_votes=max_votes,
        confidence_target=confidence_target,
        gold_rate=gold_rate,
        audit_rate=audit_rate,
        visibility=visibility,
    )
    if owner is not None:
        project.owners.add(owner)
    _categories_bulk_create(project=project, specs=specs)
    return project


WNID = re.compile(r"n\d{8}")


def wnid_clean(wnid: str | None) -> str:
    """A WordNet noun synset id (`n` and 8 digits, as ImageNet's), or "" for none; anything else is refused."""
    wnid = (wnid or "").strip()
    if wnid and not WNID.fullmatch(wnid):
        raise ServiceError(
            _("%(wnid)r is not a WordNet id: write n and 8 digits, like n02084071 (or leave it empty).")
            % {"wnid": wnid[:40]},
            code="invalid_wnid",
        )
    return wnid


def _category_name(name: str | None) -> str:
    name = (name or "").strip()
    if not name or len(name) > CATEGORY_NAME_MAX:
        raise ServiceError(
            _("A category needs a name of 1 to %(n)s characters.") % {"n": CATEGORY_NAME_MAX}, code="invalid_category"
        )
    return name


def _categories_bulk_create(*, project: Project, specs: list[dict]) -> None:
    """The categories of a new project in two bulk statements (rows, then parents), with `category_upsert`'s
    rules: a name given twice is one category (later non-empty fields win); a parent must be in the list (a
    misspelt parent is an error, not a new category); a WordNet id must look like one; a parent chain must not
    loop."""
    merged: dict[str, dict] = {}
    for spec in specs:
        name = _category_name(spec.get("name"))
        row = merged.setdefault(name, {"definition": "", "wnid": "", "parent": None})
        if spec.get("definition"):
            row["definition"] = spec["definition"]
        if spec.get("wnid"):
            row["wnid"] = wnid_clean(spec["wnid"])
        if spec.get("parent"):
            row["parent"] = _category_name(spec["parent"])
    for name, row in merged.items():
        if row["parent"] is not None and row["parent"] not in merged:
            raise ServiceError(unknown_parent_message(name, row["parent"]), code="unknown_parent")
    acyclic: set[str] = set()  # names whose parent chain is known to end: each chain is walked once
    for name in merged:
        path: list[str] = []
        on_path: set[str] = set()
        current: str | None = name
        while current is not None and current not in acyclic:
            if current in on_path:
                raise ServiceError(_("The parents of %(name)r form a loop.") % {"name": name}, code="bad_parent")
            on_path.add(current)
            path.append(current)
            current = merged[current]["parent"]
        acyclic.update(path)
    rows = Category.objects.bulk_create(
        [
            Category(project=project, name=name, definition=r["definition"], wnid=r["wnid"])
            for name, r in merged.items()
        ],
        batch_size=2000,
    )
    ids = {row.name: row.id for row in rows}
    children = []
    for row in rows:
        parent = merged[row.name]["parent"]
        if parent is not None:
            row.parent_id = ids[parent]
            children.append(row)
    bulk_update_values(Category, children, ["parent"])


def _parent_loops(category: Category, parent: Category) -> bool:
    """Whether `parent` is `category` or one of its descendants (making it the parent would close a loop)."""
    parents = dict(Category.objects.filter(project_id=category.project_id).values_list("id", "parent_id"))
    node, seen = parent.pk, set()
    while node is not None and node not in seen:
        if node == category.pk:
            return True
        seen.add(node)
        node = parents.get(node)
    return node is not None  # an existing loop above the parent: refuse rather than extend it


def category_upsert(
    *,
    project: Project,
    name: str,
    definition: str = "",
    wnid: str = "",
    parent: str | None = None,
) -> Category:
    """Create or update a category by name; `parent` is another category's name in the same project (created
    when missing: `categories_import` lets a parent come after its children and checks unknown parents first)."""
    name = _category_name(name)
    wnid = wnid_clean(wnid)
    parent_obj = None
    if parent:
        parent_obj, _made = Category.objects.get_or_create(project=project, name=parent.strip())
    category, created = Category.objects.get_or_create(
        project=project, name=name, defaults={"definition": definition, "wnid": wnid, "parent": parent_obj}
    )
    if created:  # a new answer: every stored model opinion is over a class space without it
        model_opinions_invalidate(project_id=project.pk)
    if not created:
        if parent_obj is not None and _parent_loops(category, parent_obj):
            raise ServiceError(
                _("The parent must be another category of this project, not a descendant."), code="bad_parent"
            )
        changed = []
        for field, value in (("definition", definition), ("wnid", wnid), ("parent", parent_obj)):
            if value and getattr(category, field) != value:
                setattr(category, field, value)
                changed.append(field)
        if changed:
            category.save(update_fields=changed)
            if "wnid" in changed:  # another synset: the zero-shot opinion was about the old one
                model_opinions_invalidate(project_id=project.pk)
    return category


def unknown_parent_message(name: str, parent: str) -> str:
    return _("The parent %(parent)r of %(name)r is not a category: add it first, or fix its spelling.") % {
        "parent": parent[:200],
        "name": name[:200],
    }
