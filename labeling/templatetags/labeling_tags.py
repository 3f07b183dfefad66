"""Template tags for the home page partials (the home view belongs to the foundation)."""

from __future__ import annotations

from django import template

from labeling.selectors.labeling import volunteer_progress, volunteer_projects

register = template.Library()


@register.simple_tag(takes_context=True)
def labelable_projects(context: template.Context, limit: int = 20) -> list:
    """Projects the current user may label, busiest first."""
    user = context["request"].user
    return list(volunteer_projects(user=user)[:limit])


@register.simple_tag(takes_context=True)
def my_progress(context: template.Context) -> dict:
    return volunteer_progress(user=context["request"].user)
