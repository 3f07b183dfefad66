"""Test settings: the same as base, with fast password hashing and no login throttling surprises.

Parallel runs (pytest-xdist, `make test`): each xdist worker process ("gw0", "gw1", …) gets its own var directory
(SQLite test database, filesystem broker, media, cache, checkpoints) and, on Redis, its own broker key prefix, so
one worker's Celery tasks are never consumed by another worker's Celery process (which writes to another test
database). pytest-django already suffixes the test database names with the worker id. The choice is passed to the
subprocesses the tests start (Celery workers, gunicorn, other hosts) through ANNOTATE_TEST_ISOLATION, so they use
the same prefix and are not suffixed twice.
"""

import os
from pathlib import Path

from annotate.settings.env import env_str

_xdist_worker = env_str("PYTEST_XDIST_WORKER")
if _xdist_worker and not env_str("ANNOTATE_TEST_ISOLATION"):
    # The run's id beside the worker's: a Celery worker left running by an earlier run that was killed (same
    # Redis, same "gw0") would otherwise consume this run's tasks with its own code and database.
    _run = env_str("PYTEST_XDIST_TESTRUNUID")[:8]
    os.environ["ANNOTATE_TEST_ISOLATION"] = f"{_xdist_worker}-{_run}" if _run else _xdist_worker
    _var = env_str("ANNOTATE_VAR_DIR") or str(Path(__file__).resolve().parents[2] / "var")
    os.environ["ANNOTATE_VAR_DIR"] = str(Path(_var) / f"xdist-{_xdist_worker}")

from annotate.settings.base import *  # noqa: E402, F403
from annotate.settings.base import (  # noqa: E402
    CELERY_BROKER_TRANSPORT_OPTIONS,
    CELERY_BROKER_URL,
    REDIS_CACHE_URL,
    REST_FRAMEWORK,
)

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
REST_FRAMEWORK = {**REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"login": "1000/min", "answers": "100000/min"}}
if not REDIS_CACHE_URL:
    # One fresh cache per test process (counters never leak between test runs); a test that needs the
    # counters shared by several processes starts them with REDIS_CACHE_URL.
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "annotate-test"}}

_isolation = env_str("ANNOTATE_TEST_ISOLATION")
if _isolation and CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    # kombu prefixes every key it uses (queues, unacked hash, fan-out) with this.
    CELERY_BROKER_TRANSPORT_OPTIONS = {**CELERY_BROKER_TRANSPORT_OPTIONS, "global_keyprefix": f"test-{_isolation}:"}
