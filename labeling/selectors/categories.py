"""Reads of a project's label space: the category tree (parent links, as imported from WordNet-style files)."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count

from labeling.models import Category, Project

MAX_DEPTH_CLASS = 6  # indentation classes in static/labeling/ingest.css (deeper levels share the last one)


@dataclass(frozen=True)
class TreeRow:
    category: Category
    depth: int
    children: int

    @property
    def indent(self) -> int:
        return min(self.depth, MAX_DEPTH_CLASS)


def category_tree(*, project: Project) -> list[TreeRow]:
    """Every category once, depth first (a parent before its children, siblings by name), in one query.
    A category whose parent is missing or in a cycle is shown as a root."""
    cats = list(
        Category.objects.filter(project=project)
        .select_related("parent")
        .annotate(n_examples=Count("example_images"))
        .order_by("name", "id")
    )
    ids = {c.pk for c in cats}
    children: dict[int | None, list[Category]] = {}
    for c in cats:
        children.setdefault(c.parent_id if c.parent_id in ids else None, []).append(c)
    out: list[TreeRow] = []
    seen: set[int] = set()

    def walk(parent: int | None, depth: int) -> None:
        for c in children.get(parent, []):
            if c.pk in seen:
                continue
            seen.add(c.pk)
            out.append(TreeRow(c, depth, len(children.get(c.pk, []))))
            walk(c.pk, depth + 1)

    walk(None, 0)
    for c in cats:  # cycles: never reached from a root
        if c.pk not in seen:
            seen.add(c.pk)
            out.append(TreeRow(c, 0, len(children.get(c.pk, []))))
            walk(c.pk, 1)
    return out
