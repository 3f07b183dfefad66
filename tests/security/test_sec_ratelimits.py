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


# --- issue 17, finding 1: forged forwarding headers, per-account limit, counters shared by processes ---


def test_token_api_throttle_ignores_a_forged_x_forwarded_for(db, make_user, tight_rates):
    """DRF keyed anonymous throttles on X-Forwarded-For: a new value per request was never throttled."""
    make_user("xff", role="volunteer", password="xff-pass-4242")
    client = APIClient()
    statuses = [
        client.post("/api/auth/token/", {"username": "xff", "password": "bad"}, format="json",
                    HTTP_X_FORWARDED_FOR=f"198.51.100.{i}").status_code
        for i in range(4)
    ]  # fmt: skip
    assert statuses == [400, 400, 400, 429]


def test_forwarded_for_is_believed_only_from_a_trusted_proxy(rf, settings):
    from annotate.ratelimit import client_ip

    forged = rf.get("/", REMOTE_ADDR="203.0.113.7", HTTP_X_FORWARDED_FOR="198.51.100.1")
    assert client_ip(forged) == "203.0.113.7"
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    assert client_ip(forged) == "203.0.113.7"  # not sent by our proxy: the header is the client's own
    # Through our proxy: the right-most hop that is not a proxy; what the client prepended is ignored.
    proxied = rf.get("/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="1.2.3.4, 198.51.100.9, 10.0.0.5")
    assert client_ip(proxied) == "198.51.100.9"
    garbage = rf.get("/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="not-an-ip")
    assert client_ip(garbage) == "10.0.0.2"


def test_token_api_locks_an_account_attacked_from_many_addresses(db, make_user, settings):
    """30 wrong passwords from 30 addresses, then the right one: refused (the probe got a token)."""
    make_user("target", role="volunteer", password="target-pass-4242")
    limit = settings.LOGIN_FAILURE_ACCOUNT_LIMIT
    statuses = []
    for i in range(30):
        client = APIClient(REMOTE_ADDR=f"198.51.100.{i + 1}")
        statuses.append(client.post("/api/auth/token/", {"username": "target", "password": f"guess{i}"},
                                    format="json").status_code)  # fmt: skip
    assert statuses[:limit] == [400] * limit and set(statuses[limit:]) == {429}
    right = APIClient(REMOTE_ADDR="192.0.2.200").post(
        "/api/auth/token/", {"username": "Target", "password": "target-pass-4242"}, format="json"
    )
    assert right.status_code == 429 and right.json()["code"] == "throttled" and "token" not in right.json()


def test_html_login_locks_an_account_attacked_from_many_addresses(db, make_user, settings):
    make_user("htmltarget", role="volunteer", password="html-pass-4242")
    limit = settings.LOGIN_FAILURE_ACCOUNT_LIMIT
    for i in range(limit):
        response = Client(REMOTE_ADDR=f"198.51.100.{i + 1}").post(
            "/accounts/login/", {"username": "htmltarget", "password": "guess"}
        )
        assert response.status_code == 200
    late = Client(REMOTE_ADDR="192.0.2.201").post(
        "/accounts/login/", {"username": "htmltarget", "password": "html-pass-4242"}
    )
    assert late.status_code == 429


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_failure_counters_are_shared_by_every_web_process(make_user):
    """gunicorn with two workers and the shared cache: the per-account limit holds across both
    (per-process counters allowed twice the limit, and forged X-Forwarded-For values none at all)."""
    import os
    import time
    import uuid

    import requests

    from bench._http_load import start_gunicorn, stop_process
    from bench.assign import free_port
    from tests.helpers import workers
    from tests.helpers.services import missing_service

    broker = os.environ.get("CELERY_BROKER_URL", "")
    if not broker.startswith("redis://"):
        missing_service("needs Redis (CELERY_BROKER_URL=redis://...) for a cache shared by two processes")
    username = f"shared-{uuid.uuid4().hex[:8]}"  # counters outlive the test in Redis: a fresh account each run
    make_user(username, role="volunteer", password="shared-pass-4242")
    port = free_port()
    server = start_gunicorn(database_url=workers.test_database_url(), port=port, workers=2, threads=2,
                            env_extra={"REDIS_CACHE_URL": broker, "LOGIN_FAILURE_ACCOUNT_LIMIT": "6"})  # fmt: skip
    url = f"http://127.0.0.1:{port}/api/auth/token/"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline, "gunicorn did not start"
                time.sleep(0.2)
        statuses = []
        for i in range(12):
            # A new connection each time: gunicorn's workers take turns accepting them.
            with requests.Session() as session:
                body = {"username": username, "password": f"bad{i}"}
                forged = {"X-Forwarded-For": f"198.51.100.{i}"}
                statuses.append(session.post(url, json=body, headers=forged, timeout=10).status_code)
        right = requests.post(url, json={"username": username, "password": "shared-pass-4242"}, timeout=10)
    finally:
        stop_process(server)
    assert statuses == [400] * 6 + [429] * 6, statuses
    assert right.status_code == 429 and "token" not in right.json()
