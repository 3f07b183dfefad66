"""The one SSRF-safe HTTP client of the labeling side: URL ingestion (GET) and webhooks (POST) both use it.

requests-hardened resolves the host once at connect time, refuses private, loopback, link-local, CGNAT,
reserved and multicast addresses (IPv4-mapped IPv6 unwrapped first) and pins the connection to the checked
IP, so DNS rebinding cannot swap the address afterwards. Here: the URL check (scheme, host, port), a session
that never follows redirects by itself and never takes a proxy from the environment, and the test-only
loopback exemption.

Tests: `FETCH_ALLOW_LOOPBACK_FOR_TESTS` (bool) or `FETCH_TEST_FIRST_HOP_ALLOWLIST` (exact "host:port"
strings) let the *first* request reach a loopback test server. Redirect hops never get loopback.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

import requests
from requests_hardened import Config, HTTPSession
from requests_hardened.ip_filter import InvalidIPAddress

from annotate.conf import options

__all__ = ["InvalidIPAddress", "UnsafeURL", "UrlParts", "hardened_session", "loopback_allowed", "url_split"]


class UnsafeURL(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


@dataclass(frozen=True, slots=True)
class UrlParts:
    scheme: str
    host: str
    port: int


def url_split(url: str, *, schemes: frozenset[str] = frozenset({"http", "https"})) -> UrlParts:
    """Scheme, host and port of `url`, or `UnsafeURL` (invalid_url / unsupported_scheme)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UnsafeURL("invalid_url", f"Not a valid URL: {exc}") from exc
    scheme = parts.scheme.lower()
    if scheme not in schemes:
        allowed = " and ".join(sorted(schemes))
        raise UnsafeURL("unsupported_scheme", f"Only {allowed} URLs are allowed, not {scheme or 'none'}:.")
    if not parts.hostname:
        raise UnsafeURL("invalid_url", "The URL has no host.")
    return UrlParts(scheme, parts.hostname, port or (443 if scheme == "https" else 80))


def loopback_allowed(host: str, port: int) -> bool:
    """The test-only exemption for a first hop to a loopback server (never set in production)."""
    settings = options()
    return settings.FETCH_ALLOW_LOOPBACK_FOR_TESTS or f"{host}:{port}" in settings.FETCH_TEST_FIRST_HOP_ALLOWLIST


def hardened_session(*, allow_loopback: bool, timeout: float, user_agent: str) -> requests.Session:
    """A session that refuses non-public addresses (`InvalidIPAddress`) and never redirects by itself."""
    session = HTTPSession(
        Config(
            ip_filter_enable=True,
            ip_filter_allow_loopback_ips=allow_loopback,
            never_redirect=True,
            default_timeout=(timeout, timeout),
            user_agent_override=user_agent,
        )
    )
    session.trust_env = False  # an HTTP(S)_PROXY would make the filter check the proxy, not the target
    return session
