"""Schemathesis (v4) against /api/schema/, in-process over WSGI, as every role: no 5xx, responses match the schema.

Bounded for CI: a few examples per operation and role (FUZZ_EXAMPLES, default 3) with project A's real
objects as path parameters, plus (researcher) a pass with random ones; no deadline, no example database.
About a minute on two shared cores. Failures are collected and listed (role, operation, request, problem).
"""

from __future__ import annotations

import json
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


# --- issue 17: hostile bodies the generator above does not try: deep nesting and integers past bigint -------

HUGE = 2**63  # one past PostgreSQL's bigint
NESTED = "[" * 5000 + "]" * 5000


def _resolve(schema: dict, spec: dict) -> dict:
    ref = schema.get("$ref") or (schema.get("allOf") or [{}])[0].get("$ref")
    if ref:
        return spec["components"]["schemas"][ref.rsplit("/", 1)[-1]]
    return schema


def _hostile_value(schema: dict, spec: dict, depth: int = 0) -> object:
    """A value of the schema's shape with every integer past bigint (strings and choices kept plausible)."""
    schema = _resolve(schema, spec)
    kind = schema.get("type")
    if "enum" in schema:
        return schema["enum"][0]
    if kind == "integer":
        return HUGE
    if kind == "number":
        return 1e308
    if kind == "boolean":
        return True
    if kind == "array":
        return [_hostile_value(schema.get("items", {}), spec, depth + 1)] if depth < 4 else []
    if kind == "object" or "properties" in schema:
        if depth >= 4:
            return {}
        return {name: _hostile_value(prop, spec, depth + 1) for name, prop in schema.get("properties", {}).items()}
    return "hostile"


@pytest.mark.parametrize("who", ["anonymous", "volunteer", "researcher"])
def test_nested_and_huge_integer_bodies_and_queries_on_every_operation(world, who):
    """Every operation gets a 5,000-deep JSON body, a body of its own shape with every integer past bigint,
    and every integer query parameter past bigint: never a 5xx, always the JSON error shape."""
    from rest_framework.test import APIClient

    spec = harness.api_schema()
    client = APIClient()
    if who != "anonymous":
        client.force_authenticate(world.person(who))
    problems, tried = [], 0
    for path, method, op in harness.api_operations():
        if method == "delete":
            continue
        url = harness.fill(path, world.a.objects, openapi=True)
        if url is None:
            continue
        requests = []
        integer_params = [p["name"] for p in op.get("parameters", [])
                          if p.get("in") == "query" and p.get("schema", {}).get("type") == "integer"]  # fmt: skip
        if integer_params:
            query = "&".join(f"{name}={HUGE}" for name in integer_params)
            requests.append(("get" if method == "get" else method, f"{url}?{query}", None))
        body_schema = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
        if method in ("post", "put", "patch"):
            requests.append((method, url, NESTED))
            if body_schema:
                requests.append((method, url, json.dumps(_hostile_value(body_schema, spec))))
        for verb, target, body in requests:
            tried += 1
            kwargs = {"content_type": "application/json", "data": body} if body is not None else {}
            response = getattr(client, verb)(target, **kwargs)
            content_type = response.get("Content-Type", "")
            if response.status_code >= 500:
                problems.append(f"{verb.upper()} {target} ({len(body or '')} bytes): {response.status_code}")
            elif response.status_code >= 400 and not content_type.startswith("application/json"):
                problems.append(f"{verb.upper()} {target}: {response.status_code} as {content_type}")
    assert tried > 10
    assert not problems, "\n".join(problems)
