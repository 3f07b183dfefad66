"""Schemathesis (v4) against /api/schema/, in-process over WSGI, as every role: no 5xx, responses match the schema.

Bounded for CI: a few examples per operation and role (FUZZ_EXAMPLES, default 3) with project A's real
objects as path parameters, plus (researcher) a pass with random ones; no deadline, no example database.
About a minute on two shared cores. Failures are collected and listed (role, operation, request, problem).
"""

from __future__ import annotations

import os
from contextlib import contextmanager

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, given, settings
from rest_framework.authtoken.models import Token

from tests.security import harness

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "3"))
_SCHEMA = None
ROLES = ("volunteer", "reviewer", "researcher", "admin")


@contextmanager
def _keep_test_connection():
    """Django's WSGI handler closes the DB connection after each request, which would end the test's
    transaction; the test client avoids that the same way."""
    for signal in (request_started, request_finished):
        signal.disconnect(close_old_connections)
    try:
        yield
    finally:
        for signal in (request_started, request_finished):
            signal.connect(close_old_connections)


def _schema():
    """Loaded once per session through the app itself (GET /api/schema/)."""
    from django.core.wsgi import get_wsgi_application

    global _SCHEMA
    if _SCHEMA is None:
        with _keep_test_connection():
            _SCHEMA = schemathesis.openapi.from_wsgi("/api/schema/", get_wsgi_application())
    return _SCHEMA


def _checks() -> list:
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import response_schema_conformance

    return [not_a_server_error, response_schema_conformance]


def _fixed_params(world, operation) -> dict[str, str]:
    return harness.fill_values(operation.path, world.a.objects)


def _fuzz_operation(operation, headers: dict, path_parameters: dict | None, failures: list[str], who: str) -> None:
    checks = _checks()

    @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))  # fmt: skip
    @given(case=operation.as_strategy(path_parameters=path_parameters or None))
    def run(case) -> None:
        try:
            case.call_and_validate(headers=headers, checks=checks)
        except (Exception, BaseExceptionGroup) as exc:  # collected into one report
            problem = " | ".join(str(exc).strip().splitlines()[:4])[:400]
            request = f"{case.method} {case.formatted_path} query={case.query} body={str(case.body)[:120]}"
            failures.append(f"{who} {operation.label} {request}: {problem}")

    try:
        run()
    except (Exception, BaseExceptionGroup) as exc:  # collected into one report
        problem = " | ".join(line.strip() for line in str(exc).strip().splitlines()[:6] if line.strip())[:500]
        failures.append(f"{who} {operation.label}: {problem}")


@pytest.mark.parametrize("who", ROLES)
def test_fuzz_every_operation_as_each_role(world, who):
    schema = _schema()
    token, _ = Token.objects.get_or_create(user=world.person(who))
    headers = {"Authorization": f"Token {token.key}"}
    failures: list[str] = []
    operations = 0
    with _keep_test_connection():
        for result in schema.get_all_operations():
            operation = result.ok()
            if operation.path == "/api/auth/token/":
                continue  # throttled log-in: fuzzed separately with a higher rate would only test DRF
            operations += 1
            fixed = _fixed_params(world, operation)
            _fuzz_operation(operation, headers, fixed, failures, who)
            if fixed and who == "researcher":  # random ids too: foreign/missing objects must be clean 404s
                _fuzz_operation(operation, headers, None, failures, who)
    assert operations > 0
    # Unique problems only: hypothesis shrinks and repeats.
    unique = sorted(set(failures))
    assert not unique, f"{len(unique)} problems in {operations} operations:\n" + "\n".join(unique)
