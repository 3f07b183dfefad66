"""Staff roles for the Django admin: two roles, neither of which can make anyone (itself included) superuser.

- `staff-operator`: add/change/view the domain data (labeling, training) and view/change user accounts,
  except the privilege fields (is_staff, is_superuser, groups, user_permissions), which only a superuser
  edits (annotate/admin.py). It cannot touch superuser accounts, groups or API tokens.
- `staff-auditor`: view-only on the same models.

Only superusers grant these roles (`python manage.py shell` or the admin, as a superuser).
Peers let staff escalate to superuser through the user form (CVE-2026-23526); this is the fix.
"""

from __future__ import annotations

import enum

from django.contrib.auth.models import AbstractBaseUser, Group, Permission
from django.db import transaction
from django.db.models import Q

DOMAIN_APPS = ("labeling", "training", "annotate")


class StaffRole(enum.StrEnum):
    OPERATOR = "staff-operator"
    AUDITOR = "staff-auditor"


def _permissions_for(role: StaffRole) -> list[Permission]:
    domain = Permission.objects.filter(content_type__app_label__in=DOMAIN_APPS)
    if role == StaffRole.AUDITOR:
        return list(domain.filter(codename__startswith="view_")) + list(
            Permission.objects.filter(content_type__app_label="auth", codename="view_user")
        )
    domain = domain.exclude(codename__startswith="delete_")
    users = Permission.objects.filter(Q(content_type__app_label="auth") & Q(codename__in=["view_user", "change_user"]))
    return list(domain) + list(users)


@transaction.atomic
def staff_role_grant(*, user: AbstractBaseUser, role: StaffRole) -> None:
    """Make `user` staff with `role`'s permissions (the group is created or refreshed)."""
    group, _ = Group.objects.get_or_create(name=role.value)
    group.permissions.set(_permissions_for(role))
    user.groups.add(group)
    if not user.is_staff:
        user.is_staff = True
        user.save(update_fields=["is_staff"])
