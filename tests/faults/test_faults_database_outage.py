"""PostgreSQL unavailable for ~3 s under a live gunicorn (persistent connections, CONN_MAX_AGE=60):
requests get a clear 503 (never a 500), then succeed again as soon as the database is back, without
restarting the server. The shared PostgreSQL is never touched: a TCP proxy between gunicorn and it is cut."""

from __future__ import annotations

import concurrent.futures
import time

import pytest
import requests
from django.db import connection
from rest_framework.authtoken.models import Token

from bench._http_load import start_gunicorn, stop_process
from bench.assign import free_port, warm_up
from tests.faults.faults_proxy import TcpProxy
from tests.helpers.services import require_broker, require_postgres

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

OUTAGE_S = 3.0
WORKERS, THREADS = 2, 4


def _proxied_database_url(port: int) -> str:
    s = connection.settings_dict
    return f"postgres://{s['USER'] or 'postgres'}@127.0.0.1:{port}/{s['NAME']}"


def _burst(base: str, token: str, n: int) -> list[int]:
    """n concurrent authenticated API calls: spreads them over every gunicorn thread (and its connection)."""

    def call(_: int) -> int:
        return requests.get(f"{base}/api/me/", headers={"Authorization": f"Token {token}"}, timeout=30).status_code

    with concurrent.futures.ThreadPoolExecutor(n) as pool:
        return list(pool.map(call, range(n)))


def _login(base: str, username: str, password: str) -> requests.Response:
    """The HTML login form (CSRF cookie + token), which needs the database to check the password."""
    session = requests.Session()
    session.get(f"{base}/accounts/login/", timeout=30)
    csrf = session.cookies.get("csrftoken", "")
    return session.post(f"{base}/accounts/login/", timeout=30, allow_redirects=False,
                        data={"username": username, "password": password, "csrfmiddlewaretoken": csrf},
                        headers={"Referer": f"{base}/accounts/login/"})  # fmt: skip


def test_database_outage_gives_clear_503s_then_recovers_without_restart(make_user):
    require_postgres()
    require_broker()  # /healthz reports the broker too; it must be up so only the database is "down"
    user = make_user("outage")
    token = Token.objects.create(user=user).key
    s = connection.settings_dict
    proxy = TcpProxy(s["HOST"] or "127.0.0.1", int(s["PORT"] or 5432)).start()
    port = free_port()
    server = start_gunicorn(database_url=_proxied_database_url(proxy.port), port=port, workers=WORKERS,
                            threads=THREADS, env_extra={"DB_CONNECT_TIMEOUT": "2"})  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        warm_up(base, token, WORKERS)
        assert _burst(base, token, WORKERS * THREADS * 2) == [200] * (WORKERS * THREADS * 2)
        assert proxy.open_connections >= 2  # persistent connections, held across requests
        assert requests.get(f"{base}/healthz", timeout=30).status_code == 200

        proxy.cut()
        cut_at = time.monotonic()
        seen: list[tuple[str, int]] = []
        health = requests.get(f"{base}/healthz", timeout=30)
        api = requests.get(f"{base}/api/me/", headers={"Authorization": f"Token {token}"}, timeout=30)
        html = _login(base, "outage", "pw-outage-123")
        while time.monotonic() - cut_at < OUTAGE_S:  # keep asking for the rest of the outage
            for path in ("/healthz", "/api/me/", "/api/projects/"):
                r = requests.get(f"{base}{path}", headers={"Authorization": f"Token {token}"}, timeout=30)
                seen.append((path, r.status_code))
            time.sleep(0.1)
        proxy.restore()

        assert health.status_code == 503
        body = health.json()
        assert body["status"] == "unavailable" and body["database"]["ok"] is False, body
        # An anonymous caller learns which part is down, never its vendor, host or error text.
        assert "detail" not in body["database"] and body["broker"]["ok"] is True, body
        assert api.status_code == 503, api.text
        assert api.json()["code"] == "database_unavailable" and "database" in api.json()["detail"].lower()
        assert html.status_code == 503, html.text[:300]
        assert "database is unavailable" in html.text.lower()
        assert seen and {code for _, code in seen} == {503}, seen

        # Back: every thread's next request works (stale persistent connections are replaced, not reused).
        recovered = _burst(base, token, WORKERS * THREADS * 3)
        assert recovered == [200] * len(recovered), recovered
        assert requests.get(f"{base}/healthz", timeout=30).status_code == 200
        assert _login(base, "outage", "pw-outage-123").status_code == 302

        # A blip while idle (a PostgreSQL restart or failover between requests): every held connection
        # is dead but no request saw it die. The next requests must not fail on those stale connections.
        assert _burst(base, token, WORKERS * THREADS * 2) == [200] * (WORKERS * THREADS * 2)
        held = proxy.open_connections
        proxy.cut()
        proxy.restore()
        after_blip = _burst(base, token, WORKERS * THREADS * 3)
        assert held >= 2 and after_blip == [200] * len(after_blip), (held, after_blip)
        assert server.poll() is None  # the same server, never restarted
    finally:
        stop_process(server)
        proxy.close()
