"""The settings object: parsed from the environment, validated, and the README's table generated from it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from annotate.conf import AnnotateOptions, options, options_table

ROOT = Path(__file__).resolve().parent.parent


def test_environment_overrides_are_typed():
    opts = AnnotateOptions.from_env(
        {
            "ANNOTATE_LEASE_TTL_SECONDS": "90",
            "ANNOTATE_FETCH_ALLOW_LOOPBACK_FOR_TESTS": "true",
            "ANNOTATE_FETCH_TEST_FIRST_HOP_ALLOWLIST": "127.0.0.1:80, 127.0.0.1:81",
            "ANNOTATE_EXPORT_SHARD_MB": "0.5",
            "ANNOTATE_THUMBNAIL_SIZE": "",  # empty = unset
        }
    )
    assert opts.LEASE_TTL_SECONDS == 90
    assert opts.FETCH_ALLOW_LOOPBACK_FOR_TESTS is True
    assert opts.FETCH_TEST_FIRST_HOP_ALLOWLIST == ("127.0.0.1:80", "127.0.0.1:81")
    assert opts.EXPORT_SHARD_MB == 0.5
    assert opts.THUMBNAIL_SIZE == 256


def test_a_malformed_value_names_the_variable():
    with pytest.raises(ValueError, match="ANNOTATE_LEASE_TTL_SECONDS='soon'"):
        AnnotateOptions.from_env({"ANNOTATE_LEASE_TTL_SECONDS": "soon"})


def test_overrides_in_settings_are_validated(settings):
    settings.ANNOTATE = {"LEASE_TTL_SECONDS": 30, "FETCH_TEST_FIRST_HOP_ALLOWLIST": ["127.0.0.1:9"]}
    assert options().LEASE_TTL_SECONDS == 30
    assert options().FETCH_TEST_FIRST_HOP_ALLOWLIST == ("127.0.0.1:9",)
    assert options().THUMBNAIL_SIZE == 256  # defaults fill the rest
    settings.ANNOTATE = {"LEASE_TTL_SECOND": 30}  # a typo is an error, never silently ignored
    with pytest.raises(KeyError, match="LEASE_TTL_SECOND"):
        options()


def test_readme_table_is_generated_from_the_object():
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"<!-- options-table:start -->\n(.*?)\n<!-- options-table:end -->", readme, re.S)
    assert block, "README lost its generated settings table"
    assert block.group(1) == options_table()


def test_no_module_reads_the_environment_or_undeclared_settings():
    """Code reads options(); only the settings modules read os.environ (the demo passes it to its children)."""
    allowed = {"annotate/conf.py", "annotate/settings/env.py", "annotate/settings/production.py",
               "annotate/management/commands/demo.py"}  # fmt: skip
    offenders = []
    for package in ("annotate", "labeling", "training"):
        for path in (ROOT / package).rglob("*.py"):
            rel = path.relative_to(ROOT).as_posix()
            if rel in allowed or "/migrations/" in rel:
                continue
            text = path.read_text()
            if re.search(r"os\.environ\.get|os\.getenv|getattr\(settings,|settings\.ANNOTATE\b", text):
                offenders.append(rel)
    assert offenders == []
