"""Production overrides: HTTPS only, secure cookies, HSTS, hashed static files."""

import os

from annotate.settings.base import *  # noqa: F403
from annotate.settings.base import STORAGES

if not os.environ.get("SECRET_KEY") and not os.environ.get("DJANGO_SECRET_KEY"):
    raise RuntimeError("SECRET_KEY must be set in production (never a generated or hard-coded key).")

DEBUG = False
SECURE_SSL_REDIRECT = os.environ.get("SECURE_SSL_REDIRECT", "true").lower() != "false"
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", str(365 * 24 * 3600)))
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
STORAGES = {**STORAGES, "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"}}
