"""The committed translation catalogues are complete, and stay complete as code changes, without GNU gettext.

1. Every entry of every locale/*/LC_MESSAGES/*.po is translated (no empty, fuzzy or obsolete entry) and keeps the
   msgid's placeholders; the committed .mo says exactly what its .po says (a forgotten `make messages` fails here).
2. Every string the code marks for translation is in the catalogues: template msgids found the way makemessages
   finds them (Django's own `templatize`), Python msgids from the syntax tree, JS msgids from gettext()/ngettext()
   calls in static/. A new untranslated string therefore fails CI even where xgettext is not installed.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import polib
import pytest
from django.conf import settings
from django.utils.translation.template import templatize

ROOT = Path(settings.BASE_DIR)
LOCALE = ROOT / "locale"
CATALOGUES = sorted(LOCALE.glob("*/LC_MESSAGES/*.po"))
PYTHON_DIRS = ("annotate", "labeling", "training", "crowdpay")
GETTEXT_PY = {
    "_": (None, 0, None),
    "gettext": (None, 0, None),
    "gettext_lazy": (None, 0, None),
    "ngettext": (None, 0, 1),
    "ngettext_lazy": (None, 0, 1),
    "pgettext": (0, 1, None),
    "pgettext_lazy": (0, 1, None),
    "npgettext": (0, 1, 2),
    "npgettext_lazy": (0, 1, 2),
}  # name: (context arg, msgid arg, plural arg)
TEMPLATE_CALL = re.compile(r"\b(npgettext|ngettext|pgettext|gettext)\(")
PLACEHOLDER = re.compile(r"%\(\w+\)[sdr]|\{\w*\}")


def _key(context: str | None, msgid: str) -> str:
    return f"{context}\x04{msgid}" if context else msgid


def _entries(domain: str) -> dict[str, dict[str, str]]:
    """{language: {key: msgstr}} of one domain's catalogues."""
    out: dict[str, dict[str, str]] = {}
    for path in CATALOGUES:
        if path.stem == domain:
            po = polib.pofile(str(path))
            out[path.parts[-3]] = {_key(e.msgctxt, e.msgid): e.msgstr or e.msgstr_plural.get(0, "") for e in po}
    return out


def test_there_is_a_chinese_catalogue_for_templates_python_and_js():
    names = {(p.parts[-3], p.stem) for p in CATALOGUES}
    assert {("zh_Hans", "django"), ("zh_Hans", "djangojs")} <= names


@pytest.mark.parametrize("path", CATALOGUES, ids=lambda p: f"{p.parts[-3]}/{p.name}")
def test_catalogue_is_complete_and_its_mo_is_compiled_from_it(path: Path):
    po = polib.pofile(str(path))
    assert not po.metadata_is_fuzzy
    assert not po.obsolete_entries(), [e.msgid for e in po.obsolete_entries()]
    assert not po.fuzzy_entries(), [e.msgid for e in po.fuzzy_entries()]
    assert not po.untranslated_entries(), [e.msgid for e in po.untranslated_entries()]
    for entry in po:
        for msgstr in [entry.msgstr] if not entry.msgid_plural else entry.msgstr_plural.values():
            wanted = set(PLACEHOLDER.findall(entry.msgid)) | set(PLACEHOLDER.findall(entry.msgid_plural or ""))
            assert set(PLACEHOLDER.findall(msgstr)) == wanted, (entry.msgid, msgstr)
            assert msgstr.count("<") == entry.msgid.count("<"), ("markup differs", entry.msgid, msgstr)

    mo_path = path.with_suffix(".mo")
    assert mo_path.exists(), f"{mo_path} is missing: run `make messages` and commit it"
    mo = polib.mofile(str(mo_path))

    def table(catalogue) -> dict:
        return {
            (e.msgctxt, e.msgid, e.msgid_plural): (e.msgstr, tuple(sorted(e.msgstr_plural.items())))
            for e in catalogue
            if e.msgid  # the header
        }

    assert table(mo) == table(po), f"{mo_path} is stale: run `make messages` and commit it"


def _template_msgids() -> set[str]:
    """What makemessages extracts from templates: templatize() turns a template into gettext(...) calls among
    blanked-out text; each call is read back with the Python parser."""
    found: set[str] = set()
    for path in sorted((ROOT / "templates").rglob("*.html")):
        source = templatize(path.read_text(), origin=str(path))
        for start in TEMPLATE_CALL.finditer(source):
            end = start.end()
            while True:  # the shortest text up to a ")" that parses as one call
                end = source.index(")", end) + 1
                try:
                    call = ast.parse(source[start.start() : end].strip(), mode="eval").body
                    break
                except SyntaxError:
                    continue
            strings = [a.value for a in call.args if isinstance(a, ast.Constant)]
            context = strings.pop(0) if start.group(1) in ("pgettext", "npgettext") else None
            found.add(_key(context, strings[0]))
    return found


def _python_msgids() -> set[str]:
    found: set[str] = set()
    for folder in PYTHON_DIRS:
        for path in sorted((ROOT / folder).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
                if not isinstance(node, ast.Call):
                    continue
                name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
                if name not in GETTEXT_PY or not node.args:
                    continue
                ctx_arg, msgid_arg, _plural = GETTEXT_PY[name]
                args = node.args
                literal = [isinstance(a, ast.Constant) and isinstance(a.value, str) for a in args]
                assert literal[msgid_arg] and (ctx_arg is None or literal[ctx_arg]), (
                    f"{path.relative_to(ROOT)}:{node.lineno}: {name}() needs string literals to be extracted"
                )
                context = args[ctx_arg].value if ctx_arg is not None else None
                found.add(_key(context, args[msgid_arg].value))
    return found


JS_CALL = re.compile(r"\b(gettext|ngettext|pgettext)\(\s*([\"'`])")
JS_LITERAL = r'"((?:[^"\\]|\\.)*)"'
JS_STRING = re.compile(rf"\b(?:gettext|ngettext)\(\s*{JS_LITERAL}")
JS_CONTEXT_STRING = re.compile(rf"\bpgettext\(\s*{JS_LITERAL}\s*,\s*{JS_LITERAL}")


def _js_msgids() -> set[str]:
    found: set[str] = set()
    for path in sorted((ROOT / "static").rglob("*.js")):
        text = path.read_text()
        for call in JS_CALL.finditer(text):
            assert call.group(2) == '"', f"{path.name}: gettext() takes a plain double-quoted string literal"
        found.update(ast.literal_eval(f'"{m}"') for m in JS_STRING.findall(text))
        found.update(_key(c, ast.literal_eval(f'"{m}"')) for c, m in JS_CONTEXT_STRING.findall(text))
    return found


@pytest.mark.parametrize(
    ("domain", "collect"),
    [("django", _template_msgids), ("django", _python_msgids), ("djangojs", _js_msgids)],
    ids=["templates", "python", "javascript"],
)
def test_every_marked_string_is_translated(domain, collect):
    msgids = collect()
    assert len(msgids) > 20  # the scan found the marked strings at all
    for language, translated in _entries(domain).items():
        missing = sorted(m.replace("\x04", " | ") for m in msgids if not translated.get(m))
        assert not missing, f"{language}/{domain}.po lacks (run `make messages`, then translate): {missing}"
