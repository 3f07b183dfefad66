"""Core writes: the probe record, API tokens, and health checks of the services we depend on."""

from __future__ import annotations

import os

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import connection, transaction
from rest_framework.authtoken.models import Token

from annotate.models import TaskProbe


def task_probe_record(*, token: str, worker_hostname: str) -> TaskProbe:
    probe, _ = TaskProbe.objects.get_or_create(token=token, defaults={"worker_hostname": worker_hostname})
    return probe


def check_database() -> tuple[bool, str]:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:
        return False, f"{type(exc).__name__}: {exc}".strip()[:300]
    return True, connection.vendor


def check_broker(timeout: float = 2.0) -> tuple[bool, str]:
    """Open a fresh connection to the configured broker (never a pooled one that may be stale)."""
    from kombu import Connection

    url = settings.CELERY_BROKER_URL
    options = dict(settings.CELERY_BROKER_TRANSPORT_OPTIONS)
    if url.startswith("filesystem://"):
        folder = options["data_folder_in"]
        if not os.access(folder, os.W_OK):
            return False, f"broker folder {folder} is not writable"
        return True, "filesystem"
    try:
        with Connection(url, connect_timeout=timeout, transport_options=options) as conn:
            conn.ensure_connection(max_retries=1, timeout=timeout)
            driver = conn.transport.driver_type
    except Exception as exc:
        return False, f"{type(exc).__name__}: {exc}".strip()[:300]
    return True, str(driver)


# --- API tokens: one per user, revoked whenever the password changes ----------------------------------


def api_token_issue(*, user: AbstractBaseUser) -> Token:
    """The user's token, created if they have none (POST /api/auth/token/ with the right password)."""
    token, _ = Token.objects.get_or_create(user=user)
    return token


@transaction.atomic
def api_token_rotate(*, user: AbstractBaseUser) -> Token:
    """Replace the user's token with a new one (the account page shows the new key once)."""
    Token.objects.filter(user=user).delete()
    return Token.objects.create(user=user)


def api_token_revoke(*, user: AbstractBaseUser) -> bool:
    """Delete the user's token; True when there was one."""
    deleted, _ = Token.objects.filter(user=user).delete()
    return deleted > 0


def user_credentials_changed(*, user: AbstractBaseUser) -> None:
    """Called by every form that sets a password (reset link, the admin's password form): the old API
    token dies with the old password, and a completed reset lifts the per-account log-in lock."""
    from annotate.ratelimit import login_account_unlock

    api_token_revoke(user=user)
    login_account_unlock(username=user.get_username())
