"""Rate limits: failed HTML log-ins (cache counter per client IP + username) and DRF scoped throttles.

HTML log-in (`/accounts/login/` and `/admin/login/`): after `LOGIN_FAILURE_LIMIT` failed attempts
for one (IP, username) within `LOGIN_FAILURE_WINDOW_SECONDS`, or `LOGIN_FAILURE_IP_LIMIT` for one IP
whatever the username (password spraying), further POSTs get a 429 with a clear message, without
checking the password, until the window ends. A successful log-in clears its (IP, username) counter.

API: `ScopedRateThrottle` below is DRF's, reading the rates at request time (DRF's own reads them once
at import, so `override_settings` could never tighten them). It is the default throttle class, so a
view only declares `throttle_scope = "answers"`; views without a scope are not throttled.

The counters live in Django's default cache. The default LocMemCache is per process: with several web
processes or hosts set `REDIS_CACHE_URL` so that they share one counter.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from django.utils.crypto import salted_hmac
from rest_framework import throttling
from rest_framework.settings import api_settings

LOGIN_FAILURE_LIMIT = 10
LOGIN_FAILURE_IP_LIMIT = 50
LOGIN_FAILURE_WINDOW_SECONDS = 300
LOCKED_MESSAGE = "Too many failed log-in attempts. Wait {minutes} minutes and try again, or reset your password."


def _limits() -> tuple[int, int, int]:
    return (
        getattr(settings, "LOGIN_FAILURE_LIMIT", LOGIN_FAILURE_LIMIT),
        getattr(settings, "LOGIN_FAILURE_IP_LIMIT", LOGIN_FAILURE_IP_LIMIT),
        getattr(settings, "LOGIN_FAILURE_WINDOW_SECONDS", LOGIN_FAILURE_WINDOW_SECONDS),
    )


def client_ip(request: HttpRequest) -> str:
    """REMOTE_ADDR: the reverse proxy must set it to the real client (never trust X-Forwarded-For here)."""
    return request.META.get("REMOTE_ADDR", "") or "unknown"


def _keys(request: HttpRequest, username: str) -> tuple[str, str]:
    ip = client_ip(request)
    # Hashed: usernames are user input and cache keys must be short and safe for memcached/redis.
    pair = salted_hmac("annotate.ratelimit", f"{ip}\x00{username.strip().lower()}").hexdigest()[:32]
    ip_only = salted_hmac("annotate.ratelimit.ip", ip).hexdigest()[:32]
    return f"login-fail:{pair}", f"login-fail-ip:{ip_only}"


def _incr(key: str, window: int) -> int:
    if cache.add(key, 1, timeout=window):
        return 1
    try:
        return cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=window)
        return 1


def login_is_locked(request: HttpRequest, username: str) -> bool:
    limit, ip_limit, _ = _limits()
    pair_key, ip_key = _keys(request, username)
    return (cache.get(pair_key) or 0) >= limit or (cache.get(ip_key) or 0) >= ip_limit


def login_failure_record(request: HttpRequest, username: str) -> None:
    _, _, window = _limits()
    for key in _keys(request, username):
        _incr(key, window)


def login_success_record(request: HttpRequest, username: str) -> None:
    cache.delete(_keys(request, username)[0])


def login_rate_limited(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Wrap a Django log-in view (LoginView or AdminSite.login).

    A POST answered with 200 re-renders the form with an error: a failed attempt. A redirect is a success.
    """

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.method != "POST":
            return view(request, *args, **kwargs)
        username = str(request.POST.get("username", ""))[:150]
        if login_is_locked(request, username):
            minutes = max(1, _limits()[2] // 60)
            response = HttpResponse(
                LOCKED_MESSAGE.format(minutes=minutes), status=429, content_type="text/plain; charset=utf-8"
            )
            response["Retry-After"] = str(_limits()[2])
            return response
        response = view(request, *args, **kwargs)
        if response.status_code == 200:
            login_failure_record(request, username)
        elif 300 <= response.status_code < 400:
            login_success_record(request, username)
        return response

    return wrapped


class ScopedRateThrottle(throttling.ScopedRateThrottle):
    """DRF's scoped throttle with rates read from settings on every request."""

    def get_rate(self) -> str | None:
        self.THROTTLE_RATES = api_settings.DEFAULT_THROTTLE_RATES
        return super().get_rate()
