"""Fixtures of the hostile-input corpus: the two-project World, a client per role, a clean cache."""

from __future__ import annotations

import pytest

from tests.security import harness


@pytest.fixture(autouse=True)
def _clean_cache():
    """Rate-limit counters live in the cache: every test starts from zero."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def world(db, settings, tmp_path):
    from tests.security.world import world_build

    settings.STORAGES = {**settings.STORAGES, "default": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(tmp_path / "media"), "base_url": "/media/"},
    }}  # fmt: skip
    return world_build()


@pytest.fixture
def client_as(world):
    """client_as("researcher") -> a Django test client logged in as that person of project A."""
    from django.test import Client

    def factory(role: str, *, enforce_csrf_checks: bool = False) -> Client:
        client = Client(enforce_csrf_checks=enforce_csrf_checks)
        if role != "anonymous":
            client.force_login(world.person(role))
        return client

    return factory


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if harness.UNFILLED:
        terminalreporter.section("security corpus: parameters the harness could not fill (endpoints skipped)")
        for line in sorted(harness.UNFILLED):
            terminalreporter.write_line(line)
