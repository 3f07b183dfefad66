"""Foundation: roles, health, Celery round trip, deploy checks, API auth."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from django.urls import reverse

REPO = Path(__file__).resolve().parents[1]


def test_signup_makes_a_volunteer_and_logs_in(client, db):
    response = client.post(
        reverse("signup"),
        {"username": "newbie", "email": "n@example.org", "password1": "a-Long-pass-42", "password2": "a-Long-pass-42"},
    )
    assert response.status_code == 302
    home = client.get("/")
    assert b"Your roles: volunteer" in home.content
    assert b'data-testid="next-volunteer"' in home.content
    assert b'data-testid="next-researcher"' not in home.content


@pytest.mark.parametrize("role, sections", [
    ("volunteer", {"next-volunteer"}),
    ("reviewer", {"next-reviewer"}),
    ("researcher", {"next-researcher"}),
    ("admin", {"next-volunteer", "next-reviewer", "next-researcher", "next-admin"}),
])  # fmt: skip
def test_home_page_tells_each_role_what_to_do(client, make_user, role, sections):
    user = make_user(f"u-{role}", role=role)
    client.force_login(user)
    body = client.get("/").content.decode()
    for name in ("next-volunteer", "next-reviewer", "next-researcher", "next-admin"):
        assert (f'data-testid="{name}"' in body) == (name in sections), name


def test_api_me_reports_roles_and_requires_auth(api_client, make_user):
    assert api_client.get("/api/me/").status_code in (401, 403)
    user = make_user("res", role="researcher")
    api_client.force_authenticate(user)
    assert api_client.get("/api/me/").json()["roles"] == ["researcher"]


def test_token_auth_round_trip(api_client, make_user):
    make_user("tok", role="volunteer", password="s3cret-pass-99")
    bad = api_client.post("/api/auth/token/", {"username": "tok", "password": "nope"}, format="json")
    assert bad.status_code == 400 and bad.json()["code"] == "invalid_credentials"
    token = api_client.post("/api/auth/token/", {"username": "tok", "password": "s3cret-pass-99"}, format="json")
    assert token.status_code == 200
    api_client.credentials(HTTP_AUTHORIZATION=f"Token {token.json()['token']}")
    assert api_client.get("/api/me/").json()["username"] == "tok"


def test_admin_site_refuses_non_staff(client, make_user):
    client.force_login(make_user("vol", role="volunteer"))
    response = client.get("/admin/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_healthz_ok_with_services_up(client, db):
    from tests.helpers.services import require_broker

    require_broker()
    response = client.get("/healthz")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["database"]["ok"] and body["broker"]["ok"]


def test_healthz_503_when_broker_points_nowhere(client, db, settings):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["database"]["ok"] is True and body["broker"]["ok"] is False


def test_schema_and_docs_are_served(client, db):
    schema = client.get("/api/schema/")
    assert schema.status_code == 200 and b"openapi" in schema.content
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    assert "unsafe-inline" not in docs["Content-Security-Policy"].split("script-src")[1].split(";")[0]


def test_pages_carry_security_headers(client, db):
    response = client.get("/")
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["X-Frame-Options"] == "DENY"
    assert "script-src 'self'" in response["Content-Security-Policy"]


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_celery_round_trip_writes_to_database(celery_worker):
    import time

    from annotate.models import TaskProbe
    from annotate.tasks import probe

    token = uuid.uuid4().hex
    probe.delay(token)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not TaskProbe.objects.filter(token=token).exists():
        time.sleep(0.1)
    row = TaskProbe.objects.get(token=token)
    assert row.worker_hostname.startswith("test-")


def test_check_deploy_is_clean_with_production_env(tmp_path):
    env = {
        **{k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"},
        "DJANGO_SETTINGS_MODULE": "annotate.settings.production",
        "SECRET_KEY": "x" * 20 + uuid.uuid4().hex + uuid.uuid4().hex,
        "ALLOWED_HOSTS": "annotate.example.org",
        "ANNOTATE_VAR_DIR": str(tmp_path),
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "WARNINGS" not in result.stderr and "issues" in (result.stdout + result.stderr)


def test_secret_key_is_generated_once_and_never_hard_coded(tmp_path):
    from annotate.settings.env import secret_key_from_env_or_file

    env_backup = {k: os.environ.pop(k) for k in ("SECRET_KEY", "DJANGO_SECRET_KEY") if k in os.environ}
    try:
        first = secret_key_from_env_or_file(tmp_path)
        second = secret_key_from_env_or_file(tmp_path)
    finally:
        os.environ.update(env_backup)
    assert first == second and len(first) >= 50
    assert oct((tmp_path / "secret_key").stat().st_mode)[-3:] == "600"
    assert secret_key_from_env_or_file(tmp_path / "other") != first


def test_api_errors_always_have_detail_and_code(api_client, make_user):
    api_client.force_authenticate(make_user("shape", role="researcher"))
    for url in ("/api/training/runs/999999/", "/api/datasets/999999/", "/api/ingest/batches/999999/"):
        response = api_client.get(url)
        assert response.status_code == 404, url
        body = response.json()
        assert body["detail"] and body["code"], (url, body)
