"""Test settings: the same as base, with fast password hashing and no login throttling surprises."""

from annotate.settings.base import *  # noqa: F403
from annotate.settings.base import REDIS_CACHE_URL, REST_FRAMEWORK

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
REST_FRAMEWORK = {**REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"login": "1000/min", "answers": "100000/min"}}
if not REDIS_CACHE_URL:
    # One fresh cache per test process (counters never leak between test runs); a test that needs the
    # counters shared by several processes starts them with REDIS_CACHE_URL.
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "annotate-test"}}
