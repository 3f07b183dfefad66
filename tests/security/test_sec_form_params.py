"""Every HTML form × every field it posts × hostile values: never a 5xx (issue 25: "one parser for query
parameters used by every view, HTML and JSON alike" — the POST side of test_sec_query_params.py).

The forms are found, not listed: each HTML route (Django's URL resolver, filled with project A's objects) is
fetched for the first role that reaches it, and every `<form method="post">` on the page is read with its fields'
default values (text, hidden, select, checked boxes, the submit button's name and value: one variant per submit
button, so `action=fix` and `action=accept` are walked apart). Then each field is sent with each hostile value,
the others keeping their defaults; names the view reads from `request.POST` that no field carries (recorded on
`QueryDict`) are sent too. File fields are left empty (files are the fuzz tests' work).
"""

from __future__ import annotations

from html.parser import HTMLParser
from urllib.parse import urljoin

import pytest

from tests.security import harness
from tests.security.test_sec_query_params import ROLES, _Recorder

HOSTILE = ["²", "a\x00b", "9" * 25, "[" * 3000 + "]" * 3000, "x" * 5000]
SKIP = ("logout", "/media/", "download", "/i18n/", "/accounts/login", "/accounts/password", "/accounts/reset")
SKIP_FIELDS = {"csrfmiddlewaretoken"}


class _Forms(HTMLParser):
    """POST forms of a page: [(action, {field: default}, [(submit name, value), ...], file fields)]."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict] = []
        self._form: dict | None = None
        self._select: str | None = None
        self._textarea: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            if a.get("method", "get").lower() == "post":
                self._form = {"action": a.get("action", ""), "fields": {}, "submits": [], "files": set()}
                self.forms.append(self._form)
            return
        form, name = self._form, a.get("name")
        if form is None or not name:
            if tag == "option" and form is not None and self._select and self._select not in form["fields"]:
                form["fields"][self._select] = a.get("value", "")
            return
        kind = a.get("type", "text" if tag == "input" else "submit" if tag == "button" else "").lower()
        if tag == "select":
            self._select = name
        elif tag == "textarea":
            form["fields"].setdefault(name, "")
        elif kind == "submit":
            form["submits"].append((name, a.get("value", "")))
        elif kind == "file":
            form["files"].add(name)
        elif kind in ("checkbox", "radio"):
            if "checked" in a:
                form["fields"][name] = a.get("value", "on")
            else:
                form["fields"].setdefault(name, None)  # sent only when probed
        else:
            form["fields"].setdefault(name, a.get("value", ""))

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._form = None
        elif tag == "select":
            self._select = None


def _variants(page_url: str, html: str) -> list[tuple[str, dict]]:
    parser = _Forms()
    parser.feed(html)
    out = []
    for form in parser.forms:
        target = urljoin(page_url, form["action"]) if form["action"] else page_url
        base = {k: v for k, v in form["fields"].items() if v is not None and k not in SKIP_FIELDS}
        probe = {k for k in form["fields"] if k not in SKIP_FIELDS}
        for name, value in form["submits"] or [(None, None)]:
            data = dict(base)
            if name:
                data[name] = value
            out.append((target, data, probe | ({name} if name else set())))
    return out


@pytest.mark.slow
def test_every_form_field_with_hostile_values(world, client_as):
    clients = {role: client_as(role) for role in ROLES}
    for client in clients.values():
        client.raise_request_exception = False  # a 500 is a response to count, not an exception to stop at
    problems: list[str] = []
    seen: set[tuple] = set()
    pages = forms = probed = 0
    for route in harness.html_routes():
        url = harness.route_url(route, world.a.objects)
        if not url or any(s in url for s in SKIP):
            continue
        for role in ROLES:
            client = clients[role]
            page = client.get(url)
            if page.status_code != 200 or "text/html" not in page.get("Content-Type", ""):
                continue
            pages += 1
            for target, data, names in _variants(url, page.content.decode()):
                key = (target, tuple(sorted(data.items())))
                if key in seen or any(s in target for s in SKIP):
                    continue
                seen.add(key)
                forms += 1
                with _Recorder() as recorder:
                    client.post(target, data)
                for name in sorted(names | (recorder.names - SKIP_FIELDS)):
                    for value in HOSTILE:
                        probed += 1
                        response = client.post(target, {**data, name: value})
                        if response.status_code >= 500:
                            problems.append(f"{role} POST {target} {name}={value[:12]!r}: {response.status_code}")
            break
    assert pages > 20 and forms > 10 and probed > 200, (pages, forms, probed)
    print(f"{pages} pages, {forms} forms, {probed} hostile posts")
    assert not problems, f"{len(problems)} 5xx:\n" + "\n".join(sorted(set(problems))[:80])


def test_numbers_past_the_columns_in_the_pay_and_version_forms_are_form_errors(world, client_as):
    """Found by the walk above: the pay form's integers had no maximum and the version form's category ids went
    to the database unparsed (OverflowError on SQLite, DataError on PostgreSQL: 500s)."""
    from labeling.models import DatasetVersion

    client = client_as("researcher")
    client.raise_request_exception = False
    versions = DatasetVersion.objects.count()
    response = client.post("/projects/proj-a/datasets/", {"name": "v", "categories": ["9" * 25]})
    assert response.status_code == 200 and DatasetVersion.objects.count() == versions
    page = client.get("/projects/proj-a/pay/")
    assert page.status_code == 200
    data = {"reward_cents": 5, "grid_size": 0, "currency": "EUR", "bonus_cents": 0, "bonus_wilson_min": 0.5,
            "bonus_min_gold": 10, "min_hourly_cents": 0, "completion_answers": 12}  # fmt: skip
    for name in ("budget_cents", "bonus_cents", "bonus_min_gold", "min_hourly_cents", "completion_answers"):
        response = client.post("/projects/proj-a/pay/", {**data, name: "9" * 25})
        assert response.status_code == 200, (name, response.status_code)
        assert response.context["form"].errors.get(name), name
