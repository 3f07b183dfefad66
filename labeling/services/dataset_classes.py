"""A project's class index, append-only (issue 28): a category keeps its index in every later version, a
retired category keeps its slot, so a model trained on one version reads every later one."""

from __future__ import annotations

from typing import Any

from labeling.models import Project, ProjectClass


def class_index_extend(
    project: Project, used: set[int], names: dict[int, str], wnids: dict[int, str]
) -> list[dict[str, Any]]:
    """The project's append-only class index, extended by the categories of `used` that have none yet (in
    category-id order, after the highest index), as a version's class list: every slot, in index order, with
    `in_version` (whether this version holds images of it) and `retired` (its category is gone). The caller
    holds the project's row lock, so two versions never hand out the same index."""
    registry = list(ProjectClass.objects.filter(project=project).order_by("index"))
    known = {c.category_id for c in registry if c.category_id is not None}
    fresh = sorted(c for c in used if c not in known)
    if fresh:
        start = registry[-1].index + 1 if registry else 0
        new = [ProjectClass(project=project, index=start + i, category_id=c, name=names[c][:200],
                            wnid=(wnids.get(c) or "")[:32]) for i, c in enumerate(fresh)]  # fmt: skip
        ProjectClass.objects.bulk_create(new)
        registry += new
    return [
        {"index": c.index, "category_id": c.category_id,
         "name": names.get(c.category_id, c.name) if c.category_id is not None else c.name,
         "wnid": (wnids.get(c.category_id, c.wnid) if c.category_id is not None else c.wnid),
         "in_version": c.category_id in used, "retired": c.category_id is None}
        for c in registry
    ]  # fmt: skip
