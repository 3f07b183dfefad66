"""Rate limits on log-in (HTML and token API) and on answer submission."""

from __future__ import annotations

import pytest
from django.test import Client
from rest_framework.test import APIClient

from tests.security import harness


@pytest.fixture
def tight_rates(settings, monkeypatch):
    """Production-like rates. DRF's own ScopedRateThrottle reads its rates once at import, so its class
    attribute is set as well; annotate.ratelimit.ScopedRateThrottle reads the overridden settings."""
    from rest_framework.throttling import ScopedRateThrottle

    rates = {"login": "3/min", "answers": "5/min"}
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}
    monkeypatch.setattr(ScopedRateThrottle, "THROTTLE_RATES", rates)
    return rates


@pytest.mark.parametrize("login_url", ["/accounts/login/", "/admin/login/"])
def test_html_login_locks_after_ten_failures_even_for_the_right_password(db, make_user, login_url):
    user = make_user("victim", role="volunteer", password="right-pass-4242")
    if login_url.startswith("/admin/"):
        user.is_staff = True
        user.save(update_fields=["is_staff"])
    client = Client()
    for _ in range(10):
        response = client.post(login_url, {"username": "victim", "password": "guess"})
        assert response.status_code == 200  # the form again, with its error
    locked = client.post(login_url, {"username": "victim", "password": "right-pass-4242"})
    assert locked.status_code == 429
    assert "Too many failed log-in attempts" in locked.content.decode()
    assert int(locked["Retry-After"]) > 0
    assert "_auth_user_id" not in client.session  # not logged in
    # Another account from the same address is not locked by these ten failures.
    bystander = make_user("bystander", role="volunteer", password="other-pass-4242")
    bystander.is_staff = login_url.startswith("/admin/")
    bystander.save(update_fields=["is_staff"])
    assert client.post(login_url, {"username": "bystander", "password": "other-pass-4242"}).status_code == 302


def test_html_login_success_clears_the_counter(db, make_user):
    make_user("carol", role="volunteer", password="carol-pass-4242")
    client = Client()
    for _ in range(9):
        client.post("/accounts/login/", {"username": "carol", "password": "nope"})
    assert client.post("/accounts/login/", {"username": "carol", "password": "carol-pass-4242"}).status_code == 302
    client.logout()
    for _ in range(9):
        assert client.post("/accounts/login/", {"username": "carol", "password": "nope"}).status_code == 200


def test_html_login_password_spraying_from_one_address_is_limited(db, settings):
    settings.LOGIN_FAILURE_IP_LIMIT = 20
    client = Client()
    statuses = [client.post("/accounts/login/", {"username": f"user{i}", "password": "x"}).status_code
                for i in range(21)]  # fmt: skip
    assert statuses[:20] == [200] * 20 and statuses[20] == 429


def test_token_api_is_throttled_with_a_clear_error(db, make_user, tight_rates):
    make_user("tok", role="volunteer", password="tok-pass-4242")
    client = APIClient()
    for _ in range(3):
        assert client.post("/api/auth/token/", {"username": "tok", "password": "bad"}, format="json").status_code == 400
    response = client.post("/api/auth/token/", {"username": "tok", "password": "tok-pass-4242"}, format="json")
    assert response.status_code == 429
    body = response.json()
    assert body["code"] == "throttled" and "detail" in body
    assert "token" not in body


def _answer_endpoints() -> list[str]:
    return [
        path for path, method, _ in harness.api_operations()
        if method == "post" and any(w in path for w in ("answer", "annotation", "submit"))
    ]  # fmt: skip


def test_answer_submission_is_throttled(world, tight_rates):
    """Every answer-submission endpoint in the schema answers 429 after the 'answers' rate."""
    endpoints = _answer_endpoints()
    if not endpoints:
        pytest.skip("no answer-submission endpoint in the API schema yet (labeling capability)")
    failures = []
    for template in endpoints:
        url = harness.fill(template, world.a.objects, openapi=True)
        if url is None:
            failures.append(f"{template}: cannot fill its parameters")
            continue
        from django.core.cache import cache

        cache.clear()
        client = APIClient()
        client.force_authenticate(world.person("volunteer"))
        statuses = [client.post(url, {}, format="json").status_code for _ in range(6)]
        if statuses[-1] != 429 or any(s >= 500 for s in statuses):
            failures.append(f"POST {url}: statuses {statuses} (expected 429 on the 6th with rate 5/min)")
        elif client.post(url, {}, format="json").json().get("code") != "throttled":
            failures.append(f"POST {url}: 429 without code 'throttled'")
    assert not failures, "\n".join(failures)
