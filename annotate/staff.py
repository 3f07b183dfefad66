"""Staff roles for the Django admin, and the one rule for whose account a staff member may change.

What each staff role may do (the README's security section states the same):

- superuser: everything, including granting the roles below.
- `staff-operator`: add/change/view the domain data (labeling, training; no deletes), view every user
  account, and change the accounts (e-mail, name, active flag, password) of *ordinary* users only:
  volunteers and reviewers who are not staff. Accounts with an equal or higher role — researchers,
  admins, any staff member (other operators, auditors, itself) and superusers — are read-only to it,
  their password page included: changing a password or an e-mail (then a reset) would let it log in
  as them with their roles. The privilege fields (is_staff, is_superuser, groups, user_permissions)
  are read-only to it on every account. It never sees or mints API tokens, and never edits groups.
- `staff-auditor`: view-only on the same models; changes nothing.

Only superusers grant these roles: in the admin, select users on the Users page and pick the action "Grant the
staff role: operator" (or auditor, or "Revoke the staff roles").
Peers let staff escalate to superuser through the user form (CVE-2026-23526); this is the fix.
"""

from __future__ import annotations

import enum

from django.contrib.auth.models import AbstractBaseUser, Group, Permission
from django.db import transaction
from django.db.models import Q
from django.utils.translation import pgettext_lazy

from annotate.roles import Role, has_role

DOMAIN_APPS = ("labeling", "training", "annotate")


class StaffRole(enum.StrEnum):
    OPERATOR = "staff-operator"
    AUDITOR = "staff-auditor"


STAFF_ROLE_LABELS = {
    StaffRole.OPERATOR: pgettext_lazy("role", "staff operator"),
    StaffRole.AUDITOR: pgettext_lazy("role", "staff auditor"),
}


def _permissions_for(role: StaffRole) -> list[Permission]:
    domain = Permission.objects.filter(content_type__app_label__in=DOMAIN_APPS)
    if role == StaffRole.AUDITOR:
        return list(domain.filter(codename__startswith="view_")) + list(
            Permission.objects.filter(content_type__app_label="auth", codename="view_user")
        )
    domain = domain.exclude(codename__startswith="delete_")
    users = Permission.objects.filter(Q(content_type__app_label="auth") & Q(codename__in=["view_user", "change_user"]))
    return list(domain) + list(users)


def staff_may_change_account(*, actor: AbstractBaseUser, target: AbstractBaseUser) -> bool:
    """Whether `actor` may change `target`'s account in the admin (credentials included).

    Superusers may change any account; other staff only accounts below their own rank: not staff, not
    superuser, and holding no role above reviewer (admin implies researcher). Never their own: a staff
    member's own credentials change through the password-reset link, which proves the mailbox.
    """
    if actor.is_superuser:
        return True
    if target.is_superuser or target.is_staff:
        return False
    return not has_role(target, Role.RESEARCHER)


@transaction.atomic
def staff_role_grant(*, user: AbstractBaseUser, role: StaffRole) -> None:
    """Make `user` staff with `role`'s permissions (the group is created or refreshed)."""
    group, _ = Group.objects.get_or_create(name=role.value)
    group.permissions.set(_permissions_for(role))
    user.groups.add(group)
    if not user.is_staff:
        user.is_staff = True
        user.save(update_fields=["is_staff"])


@transaction.atomic
def staff_roles_revoke(*, user: AbstractBaseUser) -> None:
    """Take both staff roles away; the user stops being staff unless a superuser (who keeps every right)."""
    user.groups.remove(*Group.objects.filter(name__in=[r.value for r in StaffRole]))
    if user.is_staff and not user.is_superuser:
        user.is_staff = False
        user.save(update_fields=["is_staff"])


def staff_roles_held(user: AbstractBaseUser) -> list[StaffRole]:
    if not user.is_authenticated or not user.is_staff:
        return []
    names = set(user.groups.values_list("name", flat=True))
    return [r for r in StaffRole if r.value in names]
