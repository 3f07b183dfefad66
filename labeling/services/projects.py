"""Project and category writes."""

from __future__ import annotations

from collections.abc import Iterable

from django.db import transaction
from django.utils.text import slugify

from annotate.exceptions import ServiceError
from labeling.models import Category, Project


@transaction.atomic
def project_create(
    *,
    slug: str,
    task_type: str = Project.TaskType.VERIFY,
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
    if slugify(slug) != slug or not slug:
        raise ServiceError(f"Invalid slug {slug!r}: use lowercase letters, digits and hyphens.", code="invalid_slug")
    if task_type not in Project.TaskType.values:
        raise ServiceError(f"Unknown task type {task_type!r}.", code="invalid_task_type")
    if Project.objects.filter(slug=slug).exists():
        raise ServiceError(f"A project with slug {slug!r} already exists.", code="slug_taken", status_code=409)
    max_votes = max(max_votes or min_votes * 2 + 1, min_votes)
    project = Project.objects.create(
        slug=slug,
        name=name or slug,
        task_type=task_type,
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
    for spec in categories:
        category_upsert(project=project, **spec)
    return project


def category_upsert(
    *,
    project: Project,
    name: str,
    definition: str = "",
    wnid: str = "",
    parent: str | None = None,
) -> Category:
    """Create or update a category by name; `parent` is another category's name in the same project."""
    name = (name or "").strip()
    if not name or len(name) > 200:
        raise ServiceError("A category needs a name of 1 to 200 characters.", code="invalid_category")
    parent_obj = None
    if parent:
        parent_obj, _ = Category.objects.get_or_create(project=project, name=parent.strip())
    category, created = Category.objects.get_or_create(
        project=project, name=name, defaults={"definition": definition, "wnid": wnid, "parent": parent_obj}
    )
    if not created:
        changed = []
        for field, value in (("definition", definition), ("wnid", wnid), ("parent", parent_obj)):
            if value and getattr(category, field) != value:
                setattr(category, field, value)
                changed.append(field)
        if changed:
            category.save(update_fields=changed)
    return category
