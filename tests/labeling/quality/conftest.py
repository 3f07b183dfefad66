"""Fixtures for the quality-control tests."""

from __future__ import annotations

import pytest


@pytest.fixture
def crowd(make_user):
    """crowd(n, prefix) -> n volunteers."""

    def factory(n: int, prefix: str = "w"):
        return [make_user(f"{prefix}{i}") for i in range(n)]

    return factory
