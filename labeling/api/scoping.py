"""Projects looked up for the API through the role-scoped selectors (labeling.selectors.projects)."""

from __future__ import annotations

from collections.abc import Callable

from django.http import Http404
from django.utils.translation import gettext as _

from annotate.exceptions import NotFound
from labeling.models import Project


def scoped_project(select: Callable[..., Project], user, slug: str) -> Project:
    """The project if `select` lets this user at it. Otherwise a 404 whose code says which thing is missing
    (`project_not_found`; the handler's generic Http404 answer is only `not_found`)."""
    try:
        return select(user, slug)
    except Http404 as exc:
        raise NotFound(_("No such project."), code="project_not_found") from exc
