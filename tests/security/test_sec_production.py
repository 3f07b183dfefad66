"""Production posture: HTTPS-only settings, headers, a CSP our pages comply with, no hard-coded secrets."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.security import harness

REPO = Path(__file__).resolve().parents[2]
PROBE = """
import json, django
from django.conf import settings
django.setup()
keys = ["SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE", "SESSION_COOKIE_HTTPONLY", "SECURE_HSTS_SECONDS",
        "SECURE_HSTS_INCLUDE_SUBDOMAINS", "SECURE_HSTS_PRELOAD", "SECURE_SSL_REDIRECT", "SECURE_CONTENT_TYPE_NOSNIFF",
        "DEBUG", "X_FRAME_OPTIONS", "CONTENT_SECURITY_POLICY", "SECRET_KEY", "SECURE_PROXY_SSL_HEADER"]
out = {k: getattr(settings, k, None) for k in keys}
# The security middleware as production configures it (no URLconf: keeps the probe fast).
from django.http import HttpResponse
from django.middleware.security import SecurityMiddleware
from django.test import RequestFactory
mw = SecurityMiddleware(lambda request: HttpResponse("ok"))
rf = RequestFactory(SERVER_NAME="annotate.example.org")
r = mw(rf.get("/accounts/login/"))
s = mw(rf.get("/accounts/login/", secure=True))
out["_http"] = {"status": r.status_code, "location": r.get("Location", ""),
                "hsts": s.get("Strict-Transport-Security", ""), "nosniff": s.get("X-Content-Type-Options", "")}
print(json.dumps(out))
"""


def _production_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "DJANGO_SECRET_KEY")}
    env.update({"DJANGO_SETTINGS_MODULE": "annotate.settings.production", "ANNOTATE_VAR_DIR": str(tmp_path),
                "ALLOWED_HOSTS": "annotate.example.org", **extra})  # fmt: skip
    return env


def _run(code: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def production(tmp_path_factory) -> dict:
    secret = "prod-" + uuid.uuid4().hex + uuid.uuid4().hex
    result = _run(PROBE, _production_env(tmp_path_factory.mktemp("prod"), SECRET_KEY=secret))
    assert result.returncode == 0, result.stderr
    values = json.loads(result.stdout.strip().splitlines()[-1])
    values["_secret"] = secret
    return values


def test_production_uses_the_given_secret_key(production):
    assert production["SECRET_KEY"] == production["_secret"]


@pytest.mark.parametrize("key, expected", [
    ("SESSION_COOKIE_SECURE", True), ("CSRF_COOKIE_SECURE", True), ("SESSION_COOKIE_HTTPONLY", True),
    ("SECURE_HSTS_INCLUDE_SUBDOMAINS", True), ("SECURE_HSTS_PRELOAD", True), ("SECURE_SSL_REDIRECT", True),
    ("SECURE_CONTENT_TYPE_NOSNIFF", True), ("DEBUG", False), ("X_FRAME_OPTIONS", "DENY"),
])  # fmt: skip
def test_production_security_setting(production, key, expected):
    assert production[key] == expected


def test_production_hsts_is_at_least_a_year(production):
    assert production["SECURE_HSTS_SECONDS"] >= 31_536_000


def test_production_csp_forbids_inline_script_and_style(production):
    policy = dict(d.strip().split(" ", 1) for d in production["CONTENT_SECURITY_POLICY"].split(";") if d.strip())
    for directive in ("script-src", "style-src", "default-src"):
        assert "'unsafe-inline'" not in policy[directive] and "'unsafe-eval'" not in policy[directive]
    assert policy["object-src"] == "'none'" and policy["frame-ancestors"] == "'none'"


def test_production_refuses_to_start_without_a_secret_key(tmp_path):
    result = _run("import django; django.setup()", _production_env(tmp_path))
    assert result.returncode != 0 and "SECRET_KEY must be set" in result.stderr


def test_production_redirects_http_and_sends_hsts(production):
    http = production["_http"]
    assert http["status"] == 301 and http["location"].startswith("https://")
    hsts = http["hsts"]
    assert "max-age=31536000" in hsts and "includeSubDomains" in hsts and "preload" in hsts
    assert http["nosniff"] == "nosniff"


SECRET_ASSIGNMENT = re.compile(r"""(SECRET_KEY|AWS_SECRET_ACCESS_KEY|PASSWORD)\s*[=:]\s*["'][^"'\s$]{8,}["']""")


def test_no_secret_is_hard_coded_in_the_repository():
    """Settings, compose files and app code carry no literal secret (CVE-2023-43791 in a peer)."""
    roots = ["annotate", "labeling", "training", "docker-compose.yml", "Makefile", "pyproject.toml"]
    hits = []
    for root in roots:
        path = REPO / root
        files = (
            [path]
            if path.is_file()
            else [p for p in path.rglob("*") if p.suffix in (".py", ".yml", ".yaml", ".toml", ".env", ".cfg")]
        )
        for file in files:
            if "migrations" in file.parts:
                continue
            for lineno, line in enumerate(file.read_text(errors="replace").splitlines(), 1):
                if SECRET_ASSIGNMENT.search(line):
                    hits.append(f"{file.relative_to(REPO)}:{lineno}: {line.strip()}")
    assert not hits, "\n".join(hits)


@pytest.mark.parametrize("who", ["anonymous", "volunteer", "reviewer", "researcher", "admin"])
def test_our_pages_comply_with_the_csp(world, client_as, who):
    """No inline <script> (json_script data blocks allowed), no style= attributes, no on* handlers."""
    client = client_as(who)
    failures, pages = [], 0
    for route in harness.html_routes():
        if route.name in ("password_reset_confirm", "logout"):
            continue
        url = harness.route_url(route, world.a.objects)
        if url is None:
            continue
        response = client.get(url)
        if response.status_code != 200 or "text/html" not in response.get("Content-Type", ""):
            continue
        pages += 1
        assert "'unsafe-inline'" not in response["Content-Security-Policy"].split("script-src")[1].split(";")[0]
        audit = harness.html_audit(response.content)
        for kind in ("inline_scripts", "style_attrs", "handlers", "javascript_urls"):
            failures += [f"{url}: {kind} {hit}" for hit in getattr(audit, kind)]
    assert pages >= 2
    assert not failures, f"{len(failures)} CSP violations on {pages} pages:\n" + "\n".join(failures)


def test_admin_pages_comply_with_the_csp(db, client):
    """Django's admin is served under the same policy; it must not need inline scripts either."""
    from django.contrib.auth import get_user_model

    root = get_user_model().objects.create_superuser("root", "root@example.org", "root-pass-4242")
    client.force_login(root)
    failures = []
    for url in ("/admin/", "/admin/auth/user/", f"/admin/auth/user/{root.pk}/change/", "/admin/auth/group/add/"):
        response = client.get(url)
        assert response.status_code == 200, url
        audit = harness.html_audit(response.content)
        failures += [f"{url}: inline script {s}" for s in audit.inline_scripts]
        failures += [f"{url}: handler {h}" for h in audit.handlers]
    assert not failures, "\n".join(failures)
