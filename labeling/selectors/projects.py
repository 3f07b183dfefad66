"""Permission-scoped project fetches: objects a user may not see are a 404, never a 403 leak."""

from __future__ import annotations

from typing import Any

from django.db.models import Exists, OuterRef, Q, QuerySet
from django.http import Http404
from django.utils.translation import gettext as _

from annotate.inputs import ascii_int
from annotate.roles import Role, has_role
from labeling.models import Project


def projects_for_volunteer(user) -> QuerySet[Project]:
    """Projects a user may label: public ones, and invite-only ones they are a member of.

    A marketplace account (Prolific / MTurk hand-off, crowdpay.services.handoff; issue 27) is scoped: it sees
    only the project(s) it arrived for, public or not -- a paid worker is never offered, nor can open, another
    project. The one rule for the home page, the project list API, the label page and `next`; checked in the
    same statement (subqueries on the hand-off sessions), so no page pays a query for it."""
    if not user.is_authenticated:
        return Project.objects.none()
    if has_role(user, Role.ADMIN):
        return Project.objects.all()
    # crowdpay's MarketplaceSession, through Project's reverse relation (labeling does not import crowdpay).
    sessions = Project.marketplace_sessions.rel.related_model.objects.filter(user_id=user.pk)
    return (
        Project.objects.filter(
            Q(visibility=Project.Visibility.PUBLIC) | Q(members=user) | Q(owners=user) | Q(reviewers=user)
        )
        .filter(~Exists(sessions) | Exists(sessions.filter(project_id=OuterRef("pk"))))
        .distinct()
    )


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
        raise Http404(_("No such project."))
    return project


def project_for_volunteer(user, key: str | int) -> Project:
    return _get(projects_for_volunteer(user), key)


def project_for_researcher(user, key: str | int) -> Project:
    return _get(projects_for_researcher(user), key)


def project_for_reviewer(user, key: str | int) -> Project:
    return _get(projects_for_reviewer(user), key)


# --- The one permission vocabulary of every app (labeling datasets/exports, training runs) ------------------
# `<things>_for_researcher(user)` is a queryset scoped to the projects the user may manage;
# `<thing>_for_researcher(user, pk)` is one of them or a 404 (never a 403 that confirms it exists).


def scoped_to_researcher(queryset: QuerySet, user: Any, *, project_path: str) -> QuerySet:
    """`queryset` limited to rows whose project (reached through `project_path`) the user manages."""
    return queryset.filter(**{f"{project_path}__in": projects_for_researcher(user)})


def one_or_404(queryset: QuerySet, pk: object, *, what: str) -> Any:
    """The row `pk` of an already scoped queryset, or Http404("No such <what>.") — also for a pk that is no
    bigint (a DataError, a 500, before)."""
    number = ascii_int(pk if isinstance(pk, int) else str(pk), minimum=1)
    found = queryset.filter(pk=number).first() if number is not None else None
    if found is None:
        raise Http404(f"No such {what}.")
    return found
