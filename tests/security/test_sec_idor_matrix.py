"""IDOR matrix: role x endpoint x foreign object (CVE-2024-45393, CVE-2024-47172 in peers).

Every API path of the OpenAPI schema and every HTML route with an object parameter is requested by the
volunteer, reviewer and researcher of project A with the objects of project B (invite-only, another
owner), in two shapes: everything from B, and A's project with B's sub-object. Each request must be
refused (403/404, or a 4xx for a malformed write), never answer with B's data (marker SECRETB), never 5xx,
and leave B unchanged. Admins see every project by design: for them only "no 5xx" is checked.
"""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from tests.security import harness
from tests.security.world import MARKER, fingerprint

REFUSED = {400, 403, 404, 405, 409, 410, 422}
PEOPLE = ("volunteer", "reviewer", "researcher")
STORAGE_POINTERS = ("X-Accel-Redirect", "X-Sendfile")
FILE_ROUTES = ("media", "download", "checkpoint")  # the routes whose answer may be served by the storage


def _shapes(template: str, world, *, openapi: bool) -> list[tuple[str, str]]:
    """(shape, url): all of B; and, when the path has a project and another parameter, A's project + B's rest."""
    kinds = harness.param_kinds(template, openapi=openapi)
    if not kinds:
        return []
    out = []
    url = harness.fill(template, world.b.objects, openapi=openapi)
    if url is not None:
        out.append(("all-B", url))
    if len(kinds) > 1:
        # The first parameter (the project, or the left version of a diff) from A, the rest from B.
        first = kinds[0][0]
        regex = harness.OPENAPI_PARAM_RE if openapi else harness.PARAM_RE
        m = next(regex.finditer(template))
        conv = "str" if openapi else (m["conv"] or "str")
        a_value = harness.param_value(first, conv, harness._segments_before(template, m.start()), world.a.objects)
        if a_value is not None:
            mixed = harness.fill(template, world.b.objects, openapi=openapi, overrides={first: a_value})
            if mixed is not None:
                out.append(("A-first+B-rest", mixed))
    return [(s, u if u.startswith("/") else "/" + u) for s, u in out]


def _check(response, who: str, label: str, failures: list[str]) -> None:
    status = response.status_code
    if status >= 500:
        failures.append(f"{label} -> {status} (server error)")
        return
    if who == "admin":
        return
    if harness.marker_in(response, MARKER):
        failures.append(f"{label} -> {status} and the body contains project B's data")
    elif status in (301, 302, 303, 307, 308):
        location = response.get("Location", "")
        if "proj-b" in location:
            failures.append(f"{label} -> redirect into project B: {location}")
        elif location.startswith(("http://", "https://")) or "Signature=" in location:
            failures.append(f"{label} -> a redirect to the storage (a signed URL for B's file): {location}")
    elif any(h in response for h in STORAGE_POINTERS):
        failures.append(f"{label} -> {status} with a pointer to B's file for the front server")
    elif status not in REFUSED:
        failures.append(f"{label} -> {status} (expected 403/404)")


@pytest.mark.parametrize("who", [*PEOPLE, "admin"])
def test_api_objects_of_another_project_are_refused(world, who):
    before = fingerprint(world.b.project)
    client = APIClient()
    client.force_authenticate(world.person(who))
    failures: list[str] = []
    tried = 0
    for path, method, _op in harness.api_operations():
        for shape, url in _shapes(path, world, openapi=True):
            tried += 1
            kwargs = {"format": "json"} if method in harness.WRITE_METHODS else {}
            response = getattr(client, method)(url, {}, **kwargs) if kwargs else client.get(url)
            _check(response, who, f"{who} {method.upper()} {url} [{shape}]", failures)
    if who != "admin":
        assert fingerprint(world.b.project) == before, "a refused request changed project B"
    assert not failures, f"{len(failures)} of {tried} IDOR requests failed:\n" + "\n".join(failures)


@pytest.mark.parametrize("who", [*PEOPLE, "admin"])
def test_html_pages_of_another_project_are_refused(world, client_as, who):
    before = fingerprint(world.b.project)
    client = client_as(who)
    failures: list[str] = []
    for route in harness.html_routes():
        if route.name in ("password_reset_confirm",):
            continue
        for shape, url in _shapes(route.route, world, openapi=False):
            for method in ("get", "post"):
                response = getattr(client, method)(url)
                _check(response, who, f"{who} {method.upper()} {url} [{shape}]", failures)
    if who != "admin":
        assert fingerprint(world.b.project) == before, "a refused request changed project B"
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("mode", ["redirect", "accel", "sendfile"])
def test_files_of_another_project_are_refused_when_the_storage_serves_them(world, client_as, request, settings, mode):
    """Media, export and checkpoint downloads with the bytes served by S3 (presigned redirect, against moto's
    server) or by nginx: a refused request must carry no signed URL and no X-Accel-Redirect / X-Sendfile."""
    if mode == "redirect":
        request.getfixturevalue("s3_bucket")  # this process's storage -> a real S3 API; B's rows are unchanged
    settings.ANNOTATE = {**settings.ANNOTATE, "MEDIA_SERVE": mode}
    failures: list[str] = []
    tried = 0
    for who in PEOPLE:
        client, api = client_as(who), APIClient()
        api.force_authenticate(world.person(who))
        urls = [(client, u) for r in harness.html_routes() if any(w in r.route for w in FILE_ROUTES)
                for _, u in _shapes(r.route, world, openapi=False)]  # fmt: skip
        urls += [(api, u) for path, method, _ in harness.api_operations() if method == "get"
                 and any(w in path for w in FILE_ROUTES) for _, u in _shapes(path, world, openapi=True)]  # fmt: skip
        for c, url in urls:
            tried += 1
            _check(c.get(url), who, f"{who} GET {url} [{mode}]", failures)
    assert tried >= 3 * 4, tried  # original, thumbnail, export download, checkpoint: for every person
    assert not failures, "\n".join(failures)
    # control: B's owner does get the storage's answer for B's thumbnail in this mode
    owner = client_as("anonymous")
    owner.force_login(world.person("researcher_b"))
    granted = owner.get(f"/media/thumb/{world.b.objects['image'].sha256}")
    if mode == "redirect":
        assert granted.status_code == 302 and "X-Amz-Signature=" in granted["Location"]
    else:
        assert granted.status_code == 200 and granted.has_header({"accel": "X-Accel-Redirect"}.get(mode, "X-Sendfile"))


@pytest.mark.parametrize("who", PEOPLE)
def test_list_endpoints_never_include_another_projects_objects(world, who):
    """Lists without parameters (project lists, my answers ...) must not include B's rows."""
    client = APIClient()
    client.force_authenticate(world.person(who))
    failures = []
    for path, method, _op in harness.api_operations():
        if method != "get" or "{" in path:
            continue
        response = client.get(path)
        if response.status_code >= 500 or harness.marker_in(response, MARKER):
            leaks = harness.marker_in(response, MARKER)
            failures.append(f"{who} GET {path} -> {response.status_code}, leaks B: {leaks}")
    assert not failures, "\n".join(failures)


def test_the_owner_does_get_the_object(world):
    """Control for the matrix: B's owner reads B's project through the same paths (so 404s above mean refusal)."""
    client = APIClient()
    client.force_authenticate(world.person("researcher_b"))
    got = []
    for path, method, _op in harness.api_operations():
        if method != "get":
            continue
        for shape, url in _shapes(path, world, openapi=True):
            if shape == "all-B" and client.get(url).status_code == 200:
                got.append(url)
    detail_paths = [p for p, m, _ in harness.api_operations() if m == "get" and "{" in p]
    if detail_paths:
        assert got, f"B's owner could read none of {detail_paths}: the matrix would prove nothing"


# --- issue 17, finding 9: one permission vocabulary for labeling and training --------------------------------


def test_training_reads_dataset_versions_through_labeling_selectors():
    """training/selectors.py held its own copy of the version scoping: a fix to one would miss the other."""
    from labeling.selectors import datasets
    from training import selectors as training_selectors

    assert training_selectors.version_for_researcher is datasets.version_for_researcher
    assert training_selectors.versions_for_researcher is datasets.versions_for_researcher


@pytest.mark.parametrize("fetch", ["version", "export", "run"])
def test_scoped_fetches_share_one_rule(world, fetch):
    """The three scoped fetches answer alike: own object found; B's object, a missing one and a pk past
    bigint are the same 404."""
    from django.http import Http404

    from labeling.selectors.datasets import export_for_researcher, version_for_researcher
    from training.selectors import run_for_researcher

    get = {"version": version_for_researcher, "export": export_for_researcher, "run": run_for_researcher}[fetch]
    kind = fetch
    researcher = world.person("researcher")
    own, foreign = world.a.objects.get(kind), world.b.objects.get(kind)
    assert own is not None and foreign is not None, sorted(world.a.objects)
    assert get(researcher, own.pk).pk == own.pk
    for pk in (foreign.pk, 10**9, 2**63, "²"):
        with pytest.raises(Http404):
            get(researcher, pk)
