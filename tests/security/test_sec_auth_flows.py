"""Session fixation, password-reset token reuse, account enumeration, hostile usernames."""

from __future__ import annotations

import re

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.sessions.backends.db import SessionStore
from django.core import mail
from django.test import Client


def _planted_session(client: Client) -> str:
    """An attacker-chosen session the victim's browser carries before logging in."""
    store = SessionStore()
    store["planted"] = True
    store.create()
    client.cookies[settings.SESSION_COOKIE_NAME] = store.session_key
    return store.session_key


@pytest.mark.parametrize("login_url", ["/accounts/login/", "/admin/login/"])
def test_login_rotates_the_session_key(make_user, login_url):
    user = make_user("fixme", role="volunteer", password="fix-pass-4242")
    user.is_staff = True
    user.save(update_fields=["is_staff"])
    client = Client()
    planted = _planted_session(client)
    assert client.get(login_url).status_code == 200
    response = client.post(login_url, {"username": "fixme", "password": "fix-pass-4242"})
    assert response.status_code == 302
    new_key = client.cookies[settings.SESSION_COOKIE_NAME].value
    assert new_key != planted
    assert not SessionStore().exists(planted)
    # The planted key is worth nothing: it is not logged in.
    attacker = Client()
    attacker.cookies[settings.SESSION_COOKIE_NAME] = planted
    assert attacker.get("/api/me/").status_code in (401, 403)


def test_logout_destroys_the_session(make_user):
    make_user("leaver", role="volunteer", password="leave-pass-4242")
    client = Client()
    client.post("/accounts/login/", {"username": "leaver", "password": "leave-pass-4242"})
    key = client.cookies[settings.SESSION_COOKIE_NAME].value
    assert client.post("/accounts/logout/").status_code in (200, 302)
    assert not SessionStore().exists(key)
    replay = Client()
    replay.cookies[settings.SESSION_COOKIE_NAME] = key
    assert replay.get("/api/me/").status_code in (401, 403)


def _reset_link(email: str, client: Client) -> str:
    mail.outbox.clear()
    assert client.post("/accounts/password_reset/", {"email": email}).status_code == 302
    assert len(mail.outbox) == 1
    match = re.search(r"https?://[^/\s]+(/accounts/reset/[^/\s]+/[^/\s]+/)", mail.outbox[0].body)
    assert match, mail.outbox[0].body
    return match.group(1)


def test_password_reset_link_works_once(make_user):
    user = make_user("forgetful", role="volunteer", password="old-pass-4242")
    client = Client()
    link = _reset_link(user.email, client)
    form_page = client.get(link, follow=True)
    assert b"Choose a new password" in form_page.content
    set_url = form_page.redirect_chain[-1][0]
    done = client.post(set_url, {"new_password1": "brand-New-pass-77", "new_password2": "brand-New-pass-77"})
    assert done.status_code == 302
    user.refresh_from_db()
    assert user.check_password("brand-New-pass-77")

    again = Client().get(link, follow=True)
    assert b"invalid or was already used" in again.content
    assert b"Choose a new password" not in again.content
    replay = Client()
    replay.get(link, follow=True)
    posted = replay.post(set_url, {"new_password1": "attacker-Pass-99", "new_password2": "attacker-Pass-99"})
    assert posted.status_code == 200 and b"invalid or was already used" in posted.content
    user.refresh_from_db()
    assert user.check_password("brand-New-pass-77")


def test_password_reset_link_dies_when_the_password_changes_otherwise(make_user):
    user = make_user("changer", role="volunteer", password="old-pass-4242")
    link = _reset_link(user.email, Client())
    user.set_password("changed-Elsewhere-9")
    user.save()
    assert b"invalid or was already used" in Client().get(link, follow=True).content


def test_password_reset_does_not_reveal_which_emails_exist(make_user):
    make_user("known", role="volunteer")
    client = Client()
    known = client.post("/accounts/password_reset/", {"email": "known@example.org"})
    unknown = client.post("/accounts/password_reset/", {"email": "nobody@example.org"})
    assert known.status_code == unknown.status_code == 302
    assert known["Location"] == unknown["Location"]
    assert len(mail.outbox) == 1


@pytest.mark.parametrize("username", [
    "<script>alert(1)</script>", '"><img src=x onerror=alert(1)>', "javascript:alert(1)", "{{7*7}}",
    "admin\u0000", "a" * 151,
])  # fmt: skip
def test_signup_refuses_hostile_usernames_with_a_message(db, username):
    client = Client()
    response = client.post("/accounts/signup/", {
        "username": username, "email": "h@example.org", "password1": "a-Long-pass-42", "password2": "a-Long-pass-42",
    })  # fmt: skip
    assert response.status_code == 200
    assert b"errorlist" in response.content
    assert b"<script>alert(1)" not in response.content and b"<img src=x" not in response.content
    assert not get_user_model().objects.filter(email="h@example.org").exists()


# --- issue 17, finding 2: an API token dies with the password; users see and revoke theirs ---------------


def _token(username: str, password: str) -> tuple[int, str | None]:
    from rest_framework.test import APIClient

    response = APIClient().post("/api/auth/token/", {"username": username, "password": password}, format="json")
    return response.status_code, response.json().get("token")


def _me_with(key: str) -> int:
    """200, or 401 for a refused token (DRF answers 403 as the session scheme comes first: counted as 401)."""
    from rest_framework.test import APIClient

    status = APIClient(HTTP_AUTHORIZATION=f"Token {key}").get("/api/me/").status_code
    return 401 if status == 403 else status


def test_password_reset_revokes_the_api_token(make_user):
    user = make_user("rotated", role="volunteer", password="old-pass-4242")
    status, old_key = _token("rotated", "old-pass-4242")
    assert status == 200 and _me_with(old_key) == 200
    client = Client()
    form_page = client.get(_reset_link(user.email, client), follow=True)
    set_url = form_page.redirect_chain[-1][0]
    assert (
        client.post(set_url, {"new_password1": "brand-New-pass-77", "new_password2": "brand-New-pass-77"}).status_code
        == 302
    )
    assert _me_with(old_key) == 401  # the stolen token is dead
    status, new_key = _token("rotated", "brand-New-pass-77")
    assert status == 200 and new_key != old_key and _me_with(new_key) == 200


def test_admin_password_change_revokes_the_api_token(make_user):
    get_user_model().objects.create_superuser("rootreset", "rootreset@example.org", "root-pass-4242")
    make_user("victim2", role="researcher", password="victim-pass-4242")
    _, old_key = _token("victim2", "victim-pass-4242")
    admin = Client()
    admin.login(username="rootreset", password="root-pass-4242")
    victim = get_user_model().objects.get(username="victim2")
    form = {"password1": "Fresh-pass-9191", "password2": "Fresh-pass-9191", "usable_password": "true"}
    response = admin.post(f"/admin/auth/user/{victim.pk}/password/", form)
    assert response.status_code == 302, response.content[:500]
    assert _me_with(old_key) == 401
    assert _token("victim2", "Fresh-pass-9191")[1] != old_key


def test_a_user_sees_and_revokes_their_token_through_the_api(make_user):
    from rest_framework.test import APIClient

    make_user("revoker", role="volunteer", password="revoke-pass-4242")
    _, key = _token("revoker", "revoke-pass-4242")
    client = APIClient(HTTP_AUTHORIZATION=f"Token {key}")
    status = client.get("/api/auth/token/").json()
    assert status["exists"] is True and status["prefix"] == key[:4] and key not in str(status)
    assert client.delete("/api/auth/token/").status_code == 204
    assert _me_with(key) == 401
    assert APIClient().delete("/api/auth/token/").status_code in (401, 403)  # anonymous: nothing to revoke


def test_the_token_page_shows_a_new_token_once_and_revokes_it(make_user):
    user = make_user("pageuser", role="volunteer", password="page-pass-4242")
    client = Client(enforce_csrf_checks=False)
    client.force_login(user)
    assert b"You have no token" in client.get("/accounts/token/").content
    created = client.post("/accounts/token/", {"action": "create"})
    key = re.search(rb'<code id="new-token">([0-9a-f]{40})</code>', created.content).group(1).decode()
    assert created["Cache-Control"] == "no-store" and _me_with(key) == 200
    later = client.get("/accounts/token/").content.decode()
    assert key not in later and f"{key[:4]}…" in later  # never shown again, only its first characters
    replaced = client.post("/accounts/token/", {"action": "create"})
    assert _me_with(key) == 401 and replaced.status_code == 200
    assert client.post("/accounts/token/", {"action": "revoke"}).status_code == 302
    assert b"You have no token" in client.get("/accounts/token/").content
    assert Client().get("/accounts/token/").status_code == 302  # anonymous: to the log-in page
