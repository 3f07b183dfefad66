"""Rate limits: failed log-ins (HTML and token API, counters in the shared cache) and DRF scoped throttles.

Log-in (`/accounts/login/`, `/admin/login/` and `POST /api/auth/token/`): three failure counters, each
over `LOGIN_FAILURE_WINDOW_SECONDS`:

- per (client IP, username): `LOGIN_FAILURE_LIMIT`;
- per client IP whatever the username (password spraying): `LOGIN_FAILURE_IP_LIMIT`;
- per account whatever the client IP (a botnet, or forged forwarding headers): `LOGIN_FAILURE_ACCOUNT_LIMIT`.

Once one is reached, further attempts get a 429 without the password being checked, until the window
ends. A successful log-in clears only its (IP, username) counter: the owner logging in does not hand an
attacker a fresh per-account budget.

The client IP is REMOTE_ADDR, unless REMOTE_ADDR is one of `TRUSTED_PROXIES`: then it is the right-most
`X-Forwarded-For` hop that is not itself a trusted proxy. A forwarded header from anyone else is ignored
(DRF's own throttles key on it when `NUM_PROXIES` is unset: any client could pick its own identity).

The counters live in Django's default cache. Production refuses to start without `REDIS_CACHE_URL`
(annotate/settings/production.py): the default LocMemCache is per process, so with two gunicorn workers
each limit would be doubled.

Sign-up (`/accounts/signup/`): `SIGNUP_LIMIT` POSTs per client IP per `SIGNUP_WINDOW_SECONDS`.

API: `ScopedRateThrottle` below is DRF's, reading the rates at request time (DRF's own reads them once
at import, so `override_settings` could never tighten them) and keying anonymous clients on `client_ip`.
It is the default throttle class, so a view only declares `throttle_scope = "answers"`.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from django.utils.crypto import salted_hmac
from rest_framework import throttling
from rest_framework.settings import api_settings

LOCKED_MESSAGE = "Too many failed log-in attempts. Wait {minutes} minutes and try again, or reset your password."


def _ip(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(value.strip())
    except ValueError:
        return None


def _trusted(address: ipaddress.IPv4Address | ipaddress.IPv6Address | None) -> bool:
    if address is None:
        return False
    return any(address in ipaddress.ip_network(net, strict=False) for net in settings.TRUSTED_PROXIES)


def client_ip(request: HttpRequest) -> str:
    """The client's address: REMOTE_ADDR, or the forwarded one when REMOTE_ADDR is a trusted proxy."""
    remote = request.META.get("REMOTE_ADDR", "") or "unknown"
    if not settings.TRUSTED_PROXIES or not _trusted(_ip(remote)):
        return remote
    hops = [hop.strip() for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if hop.strip()]
    for hop in reversed(hops):
        address = _ip(hop)
        if address is None:  # garbage in a header our proxy passed on: stop at the proxy itself
            return remote
        if not _trusted(address):
            return str(address)
    return remote


def _hashed(kind: str, value: str) -> str:
    # Hashed: usernames are user input and cache keys must be short and safe for memcached/redis.
    return f"login-fail-{kind}:" + salted_hmac(f"annotate.ratelimit.{kind}", value).hexdigest()[:32]


def _counters(request: HttpRequest, username: str) -> list[tuple[str, int]]:
    """(cache key, limit) for the pair, the IP and the account; the pair's key comes first."""
    ip = client_ip(request)
    account = username.strip().lower()
    return [
        (_hashed("pair", f"{ip}\x00{account}"), settings.LOGIN_FAILURE_LIMIT),
        (_hashed("ip", ip), settings.LOGIN_FAILURE_IP_LIMIT),
        (_hashed("account", account), settings.LOGIN_FAILURE_ACCOUNT_LIMIT),
    ]


def _incr(key: str, window: int) -> int:
    if cache.add(key, 1, timeout=window):
        return 1
    try:
        return cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=window)
        return 1


def login_is_locked(request: HttpRequest, username: str) -> bool:
    counters = _counters(request, username)
    values = cache.get_many([key for key, _ in counters])
    return any((values.get(key) or 0) >= limit for key, limit in counters)


def login_failure_record(request: HttpRequest, username: str) -> None:
    for key, _ in _counters(request, username):
        _incr(key, settings.LOGIN_FAILURE_WINDOW_SECONDS)


def login_success_record(request: HttpRequest, username: str) -> None:
    cache.delete(_counters(request, username)[0][0])


def login_account_unlock(*, username: str) -> None:
    """Clear the per-account counter (a completed password reset proves the owner holds the mailbox)."""
    cache.delete(_hashed("account", username.strip().lower()))


def locked_minutes() -> int:
    return max(1, settings.LOGIN_FAILURE_WINDOW_SECONDS // 60)


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
            response = HttpResponse(
                LOCKED_MESSAGE.format(minutes=locked_minutes()), status=429, content_type="text/plain; charset=utf-8"
            )
            response["Retry-After"] = str(settings.LOGIN_FAILURE_WINDOW_SECONDS)
            return response
        response = view(request, *args, **kwargs)
        if response.status_code == 200:
            login_failure_record(request, username)
        elif 300 <= response.status_code < 400:
            login_success_record(request, username)
        return response

    return wrapped


SIGNUP_MESSAGE = "Too many sign-ups from your network. Try again in {minutes} minutes."


def signup_rate_limited(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Wrap the sign-up view: at most `SIGNUP_LIMIT` sign-up POSTs per client IP per `SIGNUP_WINDOW_SECONDS`
    (mass account creation feeds spam, vote stuffing and log-in spraying)."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.method != "POST":
            return view(request, *args, **kwargs)
        key = _hashed("signup", client_ip(request))
        window = settings.SIGNUP_WINDOW_SECONDS
        if (cache.get(key) or 0) >= settings.SIGNUP_LIMIT:
            response = HttpResponse(
                SIGNUP_MESSAGE.format(minutes=max(1, window // 60)),
                status=429,
                content_type="text/plain; charset=utf-8",
            )
            response["Retry-After"] = str(window)
            return response
        _incr(key, window)
        return view(request, *args, **kwargs)

    return wrapped


class ScopedRateThrottle(throttling.ScopedRateThrottle):
    """DRF's scoped throttle with rates read from settings on every request, anonymous clients keyed
    on `client_ip` (never on a forwarded header from an untrusted client)."""

    def get_rate(self) -> str | None:
        self.THROTTLE_RATES = api_settings.DEFAULT_THROTTLE_RATES
        return super().get_rate()

    def get_ident(self, request: Any) -> str:
        return client_ip(request)
