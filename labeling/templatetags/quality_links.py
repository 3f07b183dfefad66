"""Template tags for the reviewer's home card: the projects they may review."""

from __future__ import annotations

from django import template

from labeling.selectors.projects import projects_for_reviewer

register = template.Library()


@register.simple_tag
def reviewer_projects(user) -> list:
    if not getattr(user, "is_authenticated", False):
        return []
    return list(projects_for_reviewer(user).order_by("name")[:20])
