"""Every URL pattern × every query parameter it reads × hostile values: never a 5xx (issue 25).

Which parameters a view reads is found, not listed: each GET route (Django's URL resolver; the API's operations
from the schema, whose declared query parameters are added) is requested once with a recorder on `QueryDict`
(`get`, `getlist`, `[]`, `in`), which DRF's `query_params` and forms use too. Then every parameter it read is
sent with each hostile value: Unicode digits (`²`, Arabic-Indic), NUL and other control characters, numbers
past bigint, negative numbers, exponent notation, repeated (array) and bracketed forms, and very long text.
"""

from __future__ import annotations

from urllib.parse import quote

from django.http import QueryDict
from rest_framework.test import APIClient

from tests.security import harness

HOSTILE = ["²", "١٢", "\x00", "a\x00b", "\x1f", "9" * 25, "-9223372036854775809", "-1", "1e308", "nan", "x" * 5000,
           "😀"]  # fmt: skip
ROLES = ("researcher", "admin", "volunteer")
SKIP = ("logout", "/media/", "download", "/api/auth/", "/api/schema", "/api/docs", "/admin/", "/i18n/")


class _Recorder:
    def __init__(self) -> None:
        self.names: set[str] = set()
        self._saved: dict[str, object] = {}

    def __enter__(self) -> _Recorder:
        names = self.names
        for attr in ("get", "getlist", "__getitem__", "__contains__"):
            original = getattr(QueryDict, attr)
            self._saved[attr] = original

            def recording(qd, key, *args, _original=original, **kwargs):
                if isinstance(key, str):
                    names.add(key)
                return _original(qd, key, *args, **kwargs)

            setattr(QueryDict, attr, recording)
        return self

    def __exit__(self, *exc: object) -> None:
        for attr, original in self._saved.items():
            setattr(QueryDict, attr, original)


def _get_routes(world) -> list[tuple[str, set[str]]]:
    """(url, declared query parameter names) for every GET route that can be filled with project A's objects."""
    out: dict[str, set[str]] = {}
    for route in harness.url_routes():
        url = harness.route_url(route, world.a.objects)
        if url and not any(s in url for s in SKIP):
            out.setdefault(url, set())
    for path, method, op in harness.api_operations():
        if method != "get":
            continue
        url = harness.fill(path.lstrip("/"), world.a.objects, openapi=True)
        if url and not any(s in "/" + url for s in SKIP):
            declared = {p["name"] for p in op.get("parameters", []) if p.get("in") == "query"}
            out.setdefault("/" + url, set()).update(declared)
    return sorted(out.items())


def _clients(world, client_as) -> dict[str, object]:
    clients = {}
    for role in ROLES:
        api = APIClient()
        api.force_authenticate(world.person(role))
        clients[role] = (api, client_as(role))
    return clients


def test_every_route_with_hostile_values_for_every_parameter_it_reads(world, client_as):
    clients = _clients(world, client_as)
    problems: list[str] = []
    walked = probed = 0
    for url, declared in _get_routes(world):
        for role in ROLES:
            api, html = clients[role]
            client = api if url.startswith("/api/") else html
            with _Recorder() as recorder:
                baseline = client.get(url)
            if baseline.status_code >= 500:
                problems.append(f"{role} GET {url} (no parameters): {baseline.status_code}")
            if baseline.status_code in (401, 403, 404, 405):
                continue  # this role does not reach the view; another role does
            walked += 1
            names = (recorder.names | declared) - {"format"}
            for name in sorted(names):
                queries = [f"{name}={quote(value)}" for value in HOSTILE]
                queries += [f"{name}=1&{name}=%C2%B2", f"{name}=%00&{name}=1", f"{name}[]=1"]  # arrays
                for query in queries:
                    probed += 1
                    response = client.get(f"{url}?{query}")
                    if response.status_code >= 500:
                        problems.append(f"{role} GET {url}?{query[:80]}: {response.status_code}")
            break  # one role that reaches the view is enough: the parameters are parsed the same way for all
    assert walked > 20 and probed > 100, (walked, probed)
    print(f"walked {walked} routes, {probed} hostile requests")
    assert not problems, f"{len(problems)} 5xx:\n" + "\n".join(sorted(set(problems))[:60])


def test_the_parameter_recorder_sees_what_views_read(world, client_as):
    """Control: the recorder finds the curation filters (read through annotate.inputs) and the pagination."""
    with _Recorder() as recorder:
        client_as("researcher").get("/projects/proj-a/items/")
    assert {"page", "size", "category", "label", "annotator"} <= recorder.names
