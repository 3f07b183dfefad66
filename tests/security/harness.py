"""Endpoint discovery at run time: Django's URL resolver for HTML pages, drf-spectacular's schema for the API.

Capabilities land in parallel, so the corpus never lists endpoints by hand: it walks what exists and fills
path parameters with real objects of the World (see world.py). Parameters it cannot fill are recorded in
UNFILLED and shown in the terminal summary, so a skipped endpoint is visible, never silent.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any

from django.urls import URLPattern, URLResolver, get_resolver

PARAM_RE = re.compile(r"<(?:(?P<conv>\w+):)?(?P<name>\w+)>")
OPENAPI_PARAM_RE = re.compile(r"{(?P<name>\w+)}")
WRITE_METHODS = ("post", "put", "patch", "delete")
UNFILLED: set[str] = set()

# Parameter / path-segment words -> kind of object in World.objects.
KIND_WORDS = {
    "project": "project", "projects": "project", "slug": "project",
    "category": "category", "categories": "category",
    "item": "item", "items": "item", "task": "item", "tasks": "item",
    "image": "image", "images": "image", "media": "image", "thumbnail": "image", "thumbnails": "image",
    "batch": "batch", "batches": "batch", "ingest": "batch", "ingests": "batch",
    "entry": "entry", "entries": "entry",
    "source": "source", "sources": "source",
    "annotation": "annotation", "annotations": "annotation", "answer": "annotation", "answers": "annotation",
    "vote": "annotation", "votes": "annotation",
    "lease": "lease", "leases": "lease",
    "version": "version", "versions": "version", "dataset": "version", "datasets": "version",
    "export": "export", "exports": "export",
    "run": "run", "runs": "run", "training": "run", "model": "run", "models": "run",
    "user": "user", "users": "user", "annotator": "user", "annotators": "user", "volunteer": "user",
    "volunteers": "user", "score": "user", "scores": "user",
    "review": "item", "reviews": "item", "sha256": "image", "sha": "image",
}  # fmt: skip


@dataclass(frozen=True)
class Route:
    route: str  # "projects/<slug:slug>/items/<int:pk>/"
    name: str | None
    callback: Any

    @property
    def params(self) -> list[tuple[str, str]]:
        return [(m["conv"] or "str", m["name"]) for m in PARAM_RE.finditer(self.route)]

    @property
    def is_html(self) -> bool:
        return not self.route.startswith(("api/", "admin/", "static/")) and self.route != "healthz"


def url_routes() -> list[Route]:
    """Every URL pattern of the project, flattened (regex patterns, e.g. the admin's, are skipped)."""
    out: list[Route] = []

    def walk(patterns: list, prefix: str) -> None:
        for p in patterns:
            text = _regex_as_route(str(p.pattern))
            if text is None:
                continue
            if isinstance(p, URLResolver):
                walk(p.url_patterns, prefix + text)
            elif isinstance(p, URLPattern):
                out.append(Route(prefix + text, p.name, p.callback))

    walk(get_resolver().url_patterns, "")
    return out


REGEX_GROUP_RE = re.compile(r"\(\?P<(?P<name>\w+)>[^()]*\)")


def _regex_as_route(text: str) -> str | None:
    """A route string as is; a regex with only named groups as `a/<name>/b`; None for any other regex."""
    if not text.startswith("^") and "(?P" not in text:
        return text
    route = REGEX_GROUP_RE.sub(lambda m: f"<{m['name']}>", text.removeprefix("^").removesuffix("$"))
    return None if re.search(r"[()\[\]\\*+?|^$]", route) else route


def html_routes() -> list[Route]:
    return [r for r in url_routes() if r.is_html]


def _kind_for(name: str, previous_segments: list[str]) -> str | None:
    """The kind of object a parameter names: from its own words, else from the path segments before it."""
    lowered = name.lower()
    if lowered not in ("pk", "id", "object_id") and len(lowered) > 2:
        for word in re.split(r"[_\-]", lowered):
            if word in KIND_WORDS:
                return KIND_WORDS[word]
        return None
    for segment in reversed(previous_segments):
        if segment.lower() in KIND_WORDS:
            return KIND_WORDS[segment.lower()]
    return None


def _segments_before(template: str, start: int) -> list[str]:
    return [s for s in template[:start].split("/") if s and "{" not in s and "<" not in s]


def param_kinds(template: str, *, openapi: bool) -> list[tuple[str, str | None]]:
    """[(parameter name, kind or None)] of a route or OpenAPI path, in order."""
    regex = OPENAPI_PARAM_RE if openapi else PARAM_RE
    out = []
    for m in regex.finditer(template):
        out.append((m["name"], _kind_for(m["name"], _segments_before(template, m.start()))))
    return out


def param_value(name: str, conv: str, previous_segments: list[str], objects: dict[str, Any]) -> str | None:
    kind = _kind_for(name, previous_segments)
    obj = objects.get(kind) if kind else None
    if obj is None:
        return None
    if kind == "project" and (conv in ("slug", "str") and "id" not in name.lower() and name != "pk"):
        return obj.slug
    if kind == "image" and "sha" in name.lower():
        return obj.sha256
    return str(obj.pk)


def fill(template: str, objects: dict[str, Any], *, openapi: bool = False, overrides: dict | None = None) -> str | None:
    """Substitute every parameter of a route/OpenAPI path; None (and recorded) when one cannot be filled."""
    regex = OPENAPI_PARAM_RE if openapi else PARAM_RE
    result, pos = [], 0
    for m in regex.finditer(template):
        previous = _segments_before(template, m.start())
        conv = "str" if openapi else (m["conv"] or "str")
        name = m["name"]
        value = (overrides or {}).get(name) or param_value(name, conv, previous, objects)
        if value is None:
            UNFILLED.add(f"{template} :: {name}")
            return None
        result.append(template[pos : m.start()] + value)
        pos = m.end()
    result.append(template[pos:])
    return "".join(result)


def fill_values(template: str, objects: dict[str, Any], *, openapi: bool = True) -> dict[str, str]:
    """{parameter: value} for the parameters of `template` that can be filled from `objects`."""
    regex = OPENAPI_PARAM_RE if openapi else PARAM_RE
    values = {}
    for m in regex.finditer(template):
        conv = "str" if openapi else (m["conv"] or "str")
        value = param_value(m["name"], conv, _segments_before(template, m.start()), objects)
        if value is not None:
            values[m["name"]] = value
    return values


def route_url(route: Route, objects: dict[str, Any]) -> str | None:
    filled = fill(route.route, objects)
    return None if filled is None else "/" + filled


_SCHEMA: dict | None = None


def api_schema() -> dict:
    """The OpenAPI document, generated in-process (same as GET /api/schema/)."""
    from drf_spectacular.generators import SchemaGenerator

    global _SCHEMA
    if _SCHEMA is None:
        _SCHEMA = SchemaGenerator().get_schema(request=None, public=True)
    return _SCHEMA


def api_operations() -> list[tuple[str, str, dict]]:
    """(path, method, operation) for every operation in the schema."""
    ops = []
    for path, item in sorted(api_schema().get("paths", {}).items()):
        for method, op in item.items():
            if method in ("get", "post", "put", "patch", "delete"):
                ops.append((path, method, op))
    return ops


def is_list_operation(path: str, method: str, op: dict) -> bool:
    if method != "get":
        return False
    ok = op.get("responses", {}).get("200", {}).get("content", {}).get("application/json", {}).get("schema", {})
    ref = ok.get("$ref", "")
    if ok.get("type") == "array":
        return True
    if ref:
        component = api_schema()["components"]["schemas"].get(ref.rsplit("/", 1)[-1], {})
        return "results" in component.get("properties", {}) or component.get("type") == "array"
    return any(p.get("name") in ("limit", "offset", "page", "ordering") for p in op.get("parameters", []))


def marker_in(response: Any, marker: str) -> bool:
    content = getattr(response, "content", b"") or b""
    if getattr(response, "streaming", False):
        content = b"".join(response.streaming_content)
    return marker.encode() in content


class HtmlAudit(HTMLParser):
    """What a strict CSP would block or an attacker would need: inline scripts, on* handlers, style
    attributes, javascript: URLs. json_script data blocks (type="application/json") are allowed."""

    URL_ATTRS = ("href", "src", "action", "formaction", "xlink:href", "data")

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.inline_scripts: list[str] = []
        self.handlers: list[str] = []
        self.style_attrs: list[str] = []
        self.javascript_urls: list[str] = []
        self._in_script: tuple[str, ...] | None = None
        self._script_body: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name.startswith("on"):
                self.handlers.append(f"<{tag} {name}={value!r}>")
            if name == "style":
                self.style_attrs.append(f"<{tag} style={value!r}>")
            if name in self.URL_ATTRS and (value or "").strip().lower().replace("\t", "").startswith(
                ("javascript:", "vbscript:", "data:text/html")
            ):
                self.javascript_urls.append(f"<{tag} {name}={value!r}>")
        if tag == "script":
            attr = dict(attrs)
            inline = not attr.get("src") and (attr.get("type") or "").lower() != "application/json"
            self._in_script = (tag, "inline" if inline else "ok")
            self._script_body = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "script" and self._in_script:
            body = "".join(self._script_body).strip()
            if self._in_script[1] == "inline":
                self.inline_scripts.append(body[:120] or "<empty inline script>")
            self._in_script = None

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self._script_body.append(data)


def html_audit(content: bytes | str) -> HtmlAudit:
    audit = HtmlAudit()
    audit.feed(content.decode(errors="replace") if isinstance(content, bytes) else content)
    audit.close()
    return audit
