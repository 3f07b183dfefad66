"""The admin: staff only; the two staff roles can never grant privileges (CVE-2026-23526-style escalation)."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.test import Client

from annotate.staff import StaffRole, staff_role_grant

User = get_user_model()


@pytest.fixture
def staff(db, make_user):
    """operator and auditor (staff roles), a superuser, and an ordinary volunteer."""
    operator = make_user("operator", role="volunteer")
    staff_role_grant(user=operator, role=StaffRole.OPERATOR)
    auditor = make_user("auditor", role="volunteer")
    staff_role_grant(user=auditor, role=StaffRole.AUDITOR)
    root = User.objects.create_superuser("root", "root@example.org", "root-pass-4242")
    victim = make_user("plain", role="volunteer")
    return {"operator": operator, "auditor": auditor, "root": root, "plain": victim}


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _change_form(user) -> dict:
    return {
        "username": user.username, "email": user.email, "first_name": "", "last_name": "",
        "is_active": "on", "is_staff": "on", "is_superuser": "on",
        "groups": [g.pk for g in Group.objects.all()],
        "user_permissions": list(Permission.objects.values_list("pk", flat=True)[:50]),
        "last_login_0": "", "last_login_1": "", "date_joined_0": "2024-01-01", "date_joined_1": "00:00:00",
    }  # fmt: skip


@pytest.mark.parametrize("role", ["volunteer", "reviewer", "researcher", "admin"])
def test_admin_is_only_for_staff(make_user, role):
    client = _client(make_user(f"u-{role}", role=role))
    for url in ("/admin/", "/admin/auth/user/", "/admin/auth/group/"):
        response = client.get(url)
        assert response.status_code == 302 and "/admin/login/" in response["Location"], (role, url)


@pytest.mark.parametrize("who", ["operator", "auditor"])
@pytest.mark.parametrize("target", ["self", "plain"])
def test_staff_roles_cannot_grant_superuser_staff_groups_or_permissions(staff, who, target):
    actor = staff[who]
    victim = actor if target == "self" else staff["plain"]
    before = (victim.is_superuser, victim.is_staff, set(victim.groups.all()), set(victim.user_permissions.all()))
    client = _client(actor)
    page = client.get(f"/admin/auth/user/{victim.pk}/change/")
    if who == "operator":
        assert page.status_code == 200
        html = page.content.decode()
        for field in ("is_superuser", "is_staff", "groups", "user_permissions"):
            assert f'name="{field}"' not in html, f"{field} is editable by {who}"
    response = client.post(f"/admin/auth/user/{victim.pk}/change/", _change_form(victim))
    assert response.status_code in (302, 403), response.status_code
    victim.refresh_from_db()
    after = (victim.is_superuser, victim.is_staff, set(victim.groups.all()), set(victim.user_permissions.all()))
    assert after == before
    assert not victim.is_superuser


@pytest.mark.parametrize("who", ["operator", "auditor"])
def test_staff_cannot_take_over_a_superuser_account(staff, who):
    client = _client(staff[who])
    root = staff["root"]
    password_hash = root.password
    assert client.post(f"/admin/auth/user/{root.pk}/change/", _change_form(root)).status_code == 403
    response = client.post(
        f"/admin/auth/user/{root.pk}/password/", {"password1": "owned-pass-4242", "password2": "owned-pass-4242"}
    )
    assert response.status_code in (403, 404)
    assert client.post(f"/admin/auth/user/{root.pk}/delete/", {"post": "yes"}).status_code == 403
    root.refresh_from_db()
    assert root.password == password_hash and root.is_active


@pytest.mark.parametrize("who", ["operator", "auditor"])
def test_staff_cannot_edit_groups_or_add_permissions_to_their_own_group(staff, who):
    client = _client(staff[who])
    group = Group.objects.get(name=StaffRole.OPERATOR.value)
    perms_before = set(group.permissions.values_list("pk", flat=True))
    every_perm = list(Permission.objects.values_list("pk", flat=True))
    response = client.post(f"/admin/auth/group/{group.pk}/change/", {"name": group.name, "permissions": every_perm})
    assert response.status_code == 403
    assert client.post("/admin/auth/group/add/", {"name": "root-club", "permissions": every_perm}).status_code == 403
    assert set(group.permissions.values_list("pk", flat=True)) == perms_before
    assert not Group.objects.filter(name="root-club").exists()


@pytest.mark.parametrize("who", ["operator", "auditor"])
def test_staff_cannot_see_or_mint_api_tokens(staff, who):
    from rest_framework.authtoken.models import Token

    token = Token.objects.create(user=staff["root"])
    client = _client(staff[who])
    listing = client.get("/admin/authtoken/tokenproxy/")
    assert listing.status_code == 403
    assert token.key.encode() not in client.get("/admin/").content
    assert client.post("/admin/authtoken/tokenproxy/add/", {"user": staff["root"].pk}).status_code == 403
    assert Token.objects.filter(user=staff["root"]).count() == 1


def test_a_superuser_still_grants_privileges(staff):
    """The restriction is not a blanket refusal: the same form works for a superuser."""
    client = _client(staff["root"])
    victim = staff["plain"]
    response = client.post(f"/admin/auth/user/{victim.pk}/change/", _change_form(victim))
    assert response.status_code == 302, response.content[:2000]
    victim.refresh_from_db()
    assert victim.is_superuser and victim.is_staff


def test_operator_edits_ordinary_fields(staff):
    client = _client(staff["operator"])
    victim = staff["plain"]
    form = {"username": victim.username, "email": "new@example.org", "first_name": "P", "last_name": "",
            "is_active": "on"}  # fmt: skip
    response = client.post(f"/admin/auth/user/{victim.pk}/change/", form)
    assert response.status_code == 302, response.content[:2000]
    victim.refresh_from_db()
    assert victim.email == "new@example.org" and not victim.is_staff


# --- issue 17, finding 3: staff never change the credentials of an equal or higher role -------------------

TARGETS = ("volunteer", "reviewer", "researcher", "admin", "other-operator", "auditor", "superuser", "self")
# Who may change whose account (e-mail form and password page). Everything else is refused.
MAY_CHANGE = {
    "operator": {"volunteer", "reviewer"},
    "auditor": set(),
    "superuser": set(TARGETS),
}


@pytest.fixture
def accounts(make_user):
    people = {role: make_user(f"t-{role}", role=role) for role in ("volunteer", "reviewer", "researcher", "admin")}
    people["other-operator"] = make_user("t-operator2", role="volunteer")
    staff_role_grant(user=people["other-operator"], role=StaffRole.OPERATOR)
    actors = {
        "operator": make_user("a-operator", role="volunteer"),
        "auditor": make_user("a-auditor", role="volunteer"),
    }
    staff_role_grant(user=actors["operator"], role=StaffRole.OPERATOR)
    staff_role_grant(user=actors["auditor"], role=StaffRole.AUDITOR)
    people["auditor"] = make_user("t-auditor", role="volunteer")
    staff_role_grant(user=people["auditor"], role=StaffRole.AUDITOR)
    actors["superuser"] = User.objects.create_superuser("a-root", "a-root@example.org", "a-root-pass-4242")
    people["superuser"] = User.objects.create_superuser("t-root", "t-root@example.org", "t-root-pass-4242")
    return actors, people


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("who", sorted(MAY_CHANGE))
def test_staff_account_matrix_credentials(accounts, who, target):
    """The operator took over admins, researchers and the auditor through /admin/auth/user/<id>/password/."""
    actors, people = accounts
    actor = actors[who]
    victim = actor if target == "self" else people[target]
    allowed = target in MAY_CHANGE[who]
    client = _client(actor)
    before = (victim.password, victim.email)

    new_password = f"owned-{who}-pass-4242"
    password_form = {"password1": new_password, "password2": new_password, "usable_password": "true"}
    password = client.post(f"/admin/auth/user/{victim.pk}/password/", password_form)
    form = {"username": victim.username, "email": f"attacker-{who}@example.org", "first_name": "", "last_name": "",
            "is_active": "on", "date_joined_0": "2024-01-01", "date_joined_1": "00:00:00",
            "groups": list(victim.groups.values_list("pk", flat=True))}  # fmt: skip
    if victim.is_staff:
        form["is_staff"] = "on"
    if victim.is_superuser:
        form["is_superuser"] = "on"
    change = client.post(f"/admin/auth/user/{victim.pk}/change/", form)
    victim.refresh_from_db()
    if allowed:
        assert password.status_code == 302 and change.status_code == 302, (password.status_code, change.status_code)
        assert victim.check_password(new_password) and victim.email == f"attacker-{who}@example.org"
    else:
        assert password.status_code in (403, 404) and change.status_code in (403, 404)
        assert (victim.password, victim.email) == before
        assert not Client().login(username=victim.username, password=new_password)
