"""Roles as Django groups, and the one set of permission helpers used by HTML views and the API.

volunteer (default on sign-up) < reviewer < researcher < admin is *not* a strict hierarchy:
each role is a group, and admin (or superuser) implies every other role.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser, Group
from django.core.exceptions import PermissionDenied
from django.utils.translation import pgettext_lazy
from rest_framework.permissions import BasePermission


class Role(enum.StrEnum):
    VOLUNTEER = "volunteer"
    REVIEWER = "reviewer"
    RESEARCHER = "researcher"
    ADMIN = "admin"


ALL_ROLES = tuple(Role)

# What a person reads for each role (the values above are stable identifiers: groups, API, URLs).
ROLE_LABELS = {
    Role.VOLUNTEER: pgettext_lazy("role", "volunteer"),
    Role.REVIEWER: pgettext_lazy("role", "reviewer"),
    Role.RESEARCHER: pgettext_lazy("role", "researcher"),
    Role.ADMIN: pgettext_lazy("role", "admin"),
}


def user_roles(user: AbstractBaseUser | AnonymousUser) -> frozenset[Role]:
    """The roles a user holds; cached on the user object for the request."""
    if not user.is_authenticated:
        return frozenset()
    cached = getattr(user, "_annotate_roles", None)
    if cached is not None:
        return cached
    names = set(user.groups.values_list("name", flat=True))
    roles = {role for role in Role if role.value in names}
    if user.is_superuser or Role.ADMIN in roles:
        roles = set(Role)
    result = frozenset(roles)
    user._annotate_roles = result  # type: ignore[attr-defined]
    return result


def has_role(user: AbstractBaseUser | AnonymousUser, *roles: Role) -> bool:
    """True when the user holds any of `roles` (admin holds all)."""
    held = user_roles(user)
    return any(role in held for role in roles)


def role_assign(*, user: AbstractBaseUser, role: Role) -> None:
    group, _ = Group.objects.get_or_create(name=role.value)
    user.groups.add(group)
    if hasattr(user, "_annotate_roles"):
        del user._annotate_roles


def role_required(*roles: Role) -> Callable:
    """Decorator for HTML views: anonymous users go to log in, others without the role get 403."""

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        @login_required
        def wrapped(request: Any, *args: Any, **kwargs: Any) -> Any:
            if not has_role(request.user, *roles):
                raise PermissionDenied("Your role does not allow this page.")
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


class HasRole(BasePermission):
    """DRF permission: `permission_classes = [HasRole.of(Role.RESEARCHER)]`."""

    roles: tuple[Role, ...] = ()
    message = "Your role does not allow this operation."

    @classmethod
    def of(cls, *roles: Role) -> type[HasRole]:
        return type(f"HasRole_{'_'.join(r.value for r in roles)}", (cls,), {"roles": roles})

    def has_permission(self, request: Any, view: Any) -> bool:
        return bool(request.user and request.user.is_authenticated and has_role(request.user, *self.roles))
