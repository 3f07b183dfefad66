"""Permission-scoped project fetches: objects a user may not see are a 404, never a 403 leak."""

from __future__ import annotations

from django.db.models import Q, QuerySet
from django.http import Http404

from annotate.roles import Role, has_role
from labeling.models import Project


def projects_for_volunteer(user) -> QuerySet[Project]:
    """Projects a user may label: public ones, and invite-only ones they are a member of."""
    if not user.is_authenticated:
        return Project.objects.none()
    if has_role(user, Role.ADMIN):
        return Project.objects.all()
    return Project.objects.filter(
        Q(visibility=Project.Visibility.PUBLIC) | Q(members=user) | Q(owners=user) | Q(reviewers=user)
    ).distinct()


def projects_for_researcher(user) -> QuerySet[Project]:
    """Projects a researcher owns (admins see all)."""
    if has_role(user, Role.ADMIN):
        return Project.objects.all()
    if not has_role(user, Role.RESEARCHER):
        return Project.objects.none()
    return Project.objects.filter(owners=user)


def projects_for_reviewer(user) -> QuerySet[Project]:
    """Projects a user may review: those they are a reviewer of, or own (admins see all)."""
    if has_role(user, Role.ADMIN):
        return Project.objects.all()
    if not has_role(user, Role.REVIEWER, Role.RESEARCHER):
        return Project.objects.none()
    return Project.objects.filter(Q(reviewers=user) | Q(owners=user)).distinct()


def _get(queryset: QuerySet[Project], key: str | int) -> Project:
    # A string is always a slug, even "2024" (it named another project when read as a primary key).
    lookup = {"pk": key} if isinstance(key, int) else {"slug": key}
    project = queryset.filter(**lookup).first()
    if project is None:
        raise Http404("No such project.")
    return project


def project_for_volunteer(user, key: str | int) -> Project:
    return _get(projects_for_volunteer(user), key)


def project_for_researcher(user, key: str | int) -> Project:
    return _get(projects_for_researcher(user), key)


def project_for_reviewer(user, key: str | int) -> Project:
    return _get(projects_for_reviewer(user), key)
