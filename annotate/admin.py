"""Admin posture: staff who are not superusers can never grant privileges (CVE-2026-23526-style).

- User: is_staff, is_superuser, groups and user_permissions are read-only unless the editor is a
  superuser; accounts of an equal or higher role (researchers, admins, staff, superusers; their password
  and e-mail included) are changed only by superusers (`staff_may_change_account`).
- Group: only superusers add, change or delete groups (a group's permissions are privileges).
- API tokens: only superusers see them (a token is the user's credential).
The staff roles themselves are in annotate/staff.py.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.auth.admin import GroupAdmin as BaseGroupAdmin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.models import Group, User
from django.http import HttpRequest
from django.utils.translation import gettext_lazy, ngettext
from rest_framework.authtoken.admin import TokenAdmin as BaseTokenAdmin
from rest_framework.authtoken.models import TokenProxy

from annotate.forms import AdminPasswordChangeForm
from annotate.staff import StaffRole, staff_may_change_account, staff_role_grant, staff_roles_revoke

PRIVILEGE_FIELDS = ("is_staff", "is_superuser", "groups", "user_permissions")

for model in (User, Group, TokenProxy):
    if admin.site.is_registered(model):
        admin.site.unregister(model)


def _grant(modeladmin: Any, request: HttpRequest, queryset: Any, role: StaffRole) -> None:
    users = list(queryset)
    for user in users:
        staff_role_grant(user=user, role=role)
    modeladmin.message_user(
        request,
        ngettext("%(n)d user now holds the staff role %(role)s.", "%(n)d users now hold the staff role %(role)s.",
                 len(users)) % {"n": len(users), "role": role.value},
        messages.SUCCESS,
    )  # fmt: skip


@admin.action(description=gettext_lazy("Grant the staff role: operator (changes domain data)"))
def grant_operator(modeladmin: Any, request: HttpRequest, queryset: Any) -> None:
    _grant(modeladmin, request, queryset, StaffRole.OPERATOR)


@admin.action(description=gettext_lazy("Grant the staff role: auditor (views only)"))
def grant_auditor(modeladmin: Any, request: HttpRequest, queryset: Any) -> None:
    _grant(modeladmin, request, queryset, StaffRole.AUDITOR)


@admin.action(description=gettext_lazy("Revoke the staff roles (operator, auditor)"))
def revoke_staff_roles(modeladmin: Any, request: HttpRequest, queryset: Any) -> None:
    users = [u for u in queryset if not u.is_superuser]
    for user in users:
        staff_roles_revoke(user=user)
    modeladmin.message_user(
        request,
        ngettext("%(n)d user holds no staff role any more.", "%(n)d users hold no staff role any more.",
                 len(users)) % {"n": len(users)},
        messages.SUCCESS,
    )  # fmt: skip


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    change_password_form = AdminPasswordChangeForm  # revokes the user's API token
    actions = [grant_operator, grant_auditor, revoke_staff_roles]

    def get_actions(self, request: HttpRequest) -> dict:
        actions = super().get_actions(request)
        if not request.user.is_superuser:  # only superusers grant privileges
            for name in ("grant_operator", "grant_auditor", "revoke_staff_roles"):
                actions.pop(name, None)
        return actions

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        fields = tuple(super().get_readonly_fields(request, obj))
        if request.user.is_superuser:
            return fields
        return (*fields, *PRIVILEGE_FIELDS, "last_login", "date_joined")

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Covers the change form and the password page (Django's user_change_password asks this).
        if obj is not None and not staff_may_change_account(actor=request.user, target=obj):
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if obj is not None and not staff_may_change_account(actor=request.user, target=obj):
            return False
        return super().has_delete_permission(request, obj)


@admin.register(Group)
class GroupAdmin(BaseGroupAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return request.user.is_superuser

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.is_superuser

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.is_superuser


@admin.register(TokenProxy)
class TokenAdmin(BaseTokenAdmin):
    def has_module_permission(self, request: HttpRequest) -> bool:
        return request.user.is_superuser

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.is_superuser

    def has_add_permission(self, request: HttpRequest) -> bool:
        return request.user.is_superuser

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.is_superuser

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.is_superuser
