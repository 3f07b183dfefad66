"""CSRF on every state-changing HTML form and on every API write authenticated by the session cookie.

The routes are discovered at run time (harness.py), so forms added later are covered without a new test.
A POST without a token must be refused by Django's CSRF check (403, "CSRF" in the body) before the view
runs, whatever the view is, and nothing may be stored.
"""

from __future__ import annotations

from django.apps import apps
from django.middleware.csrf import get_token
from django.test import Client, RequestFactory

from tests.security import harness

JUNK_PARAMS = {"uidb64": "MQ", "token": "set-password"}


def _counts() -> dict[str, int]:
    return {m._meta.label: m.objects.count() for m in apps.get_models() if m._meta.label != "sessions.Session"}


def _html_urls(world) -> list[str]:
    urls = []
    for route in harness.html_routes():
        filled = harness.fill(route.route, world.a.objects, overrides=JUNK_PARAMS)
        if filled is not None:
            urls.append("/" + filled)
    return urls


def test_every_html_route_refuses_a_post_without_csrf_token(world, client_as):
    urls = _html_urls(world)
    assert "/accounts/login/" in urls and "/accounts/signup/" in urls
    failures = []
    before = _counts()
    for who in ("anonymous", "admin", "researcher", "volunteer"):
        client = client_as(who, enforce_csrf_checks=True)
        for url in urls:
            response = client.post(url, {"name": "csrf-probe", "username": "csrf-probe", "email": "c@example.org"})
            if response.status_code != 403 or b"CSRF" not in response.content:
                failures.append(f"{who} POST {url} -> {response.status_code}")
    assert not failures, "POST without a CSRF token was not refused:\n" + "\n".join(failures)
    assert _counts() == before


def test_csrf_token_from_another_session_is_refused(world):
    """A token harvested from the attacker's own session does not work in the victim's."""
    attacker = Client(enforce_csrf_checks=True)
    attacker.get("/accounts/login/")
    stolen = attacker.cookies["csrftoken"].value
    victim = Client(enforce_csrf_checks=True)
    victim.force_login(world.person("researcher"))
    victim.get("/")
    response = victim.post("/accounts/logout/", {"csrfmiddlewaretoken": stolen})
    assert response.status_code == 403
    assert "_auth_user_id" in victim.session  # still logged in


def test_the_same_form_with_its_token_is_accepted(world):
    """The check above can fail: with the page's own token the log-out form works."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(world.person("researcher"))
    client.get("/")
    token = client.cookies["csrftoken"].value
    assert client.post("/accounts/logout/", {"csrfmiddlewaretoken": token}).status_code == 302
    assert "_auth_user_id" not in client.session


def _session_auth_writes() -> list[tuple[str, str]]:
    out = []
    for path, method, op in harness.api_operations():
        if method not in harness.WRITE_METHODS:
            continue
        security = op.get("security", [])
        if security and not any("cookieAuth" in s for s in security):
            continue  # no session authentication on this operation (e.g. the token exchange)
        out.append((path, method))
    return out


def test_api_writes_with_session_cookie_need_the_csrf_token(world, client_as):
    writes = _session_auth_writes()
    failures = []
    before = _counts()
    for who in ("admin", "researcher", "volunteer"):
        client = client_as(who, enforce_csrf_checks=True)
        for path, method in writes:
            url = harness.fill(path, world.a.objects, openapi=True)
            if url is None:
                continue
            response = getattr(client, method)(url, data="{}", content_type="application/json")
            body = response.content.decode(errors="replace")
            if response.status_code != 403 or "CSRF" not in body:
                failures.append(f"{who} {method.upper()} {url} -> {response.status_code} {body[:120]}")
    assert not failures, "session-authenticated API write without CSRF token:\n" + "\n".join(failures)
    assert _counts() == before


def test_api_write_with_session_and_token_passes_the_csrf_check(world):
    """Control: the same kind of request with the token is not refused for CSRF."""
    writes = [(p, m) for p, m in _session_auth_writes() if harness.fill(p, world.a.objects, openapi=True)]
    if not writes:
        return
    path, method = writes[0]
    client = Client(enforce_csrf_checks=True)
    client.force_login(world.person("admin"))
    token = get_token(RequestFactory().get("/"))
    client.cookies["csrftoken"] = token
    url = harness.fill(path, world.a.objects, openapi=True)
    response = getattr(client, method)(url, data="{}", content_type="application/json", HTTP_X_CSRFTOKEN=token)
    assert "CSRF" not in response.content.decode(errors="replace"), (url, response.status_code)
