"""Which real services the suite can reach, and the rule for when one is missing.

Locally a missing service skips the tests that need it, with the reason shown.
Under CI=true a missing service is a failure, never a skip.
"""

from __future__ import annotations

import os
import shutil

import pytest

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def missing_service(reason: str) -> None:
    if in_ci():
        pytest.fail(f"CI=true and a required service is missing: {reason}", pytrace=False)
    pytest.skip(reason)


def require_postgres() -> None:
    from django.db import connection

    if connection.vendor != "postgresql":
        missing_service(f"needs PostgreSQL (SKIP LOCKED); DATABASE_URL points at {connection.vendor}")


def require_broker() -> None:
    from annotate.services import check_broker

    ok, detail = check_broker(timeout=3)
    if not ok:
        missing_service(f"broker unreachable: {detail}")


def require_chromium() -> None:
    if not (os.path.exists(CHROMIUM) or shutil.which("chromium")):
        missing_service(f"headless Chromium not found at {CHROMIUM} (apt-get install -y chromium)")
