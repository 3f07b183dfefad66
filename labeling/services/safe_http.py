"""The one SSRF-safe HTTP client of the labeling side: URL ingestion (GET) and webhooks (POST) both use it.

requests-hardened resolves the host once at connect time, refuses private, loopback, link-local, CGNAT,
reserved and multicast addresses (IPv4-mapped IPv6 unwrapped first) and pins the connection to the checked
IP, so DNS rebinding cannot swap the address afterwards. Here: the URL check (scheme, host, port), a session
that never follows redirects by itself and never takes a proxy from the environment, and the test-only
loopback exemption.

On top of it, `address_blocked` judges the address the connection is pinned to by `ipaddress`'s own properties
(not global, private, reserved, multicast, loopback, link-local, unspecified) and refuses every IPv6 form that
carries an IPv4 address (IPv4-mapped `::ffff:a.b.c.d`, IPv4-compatible `::a.b.c.d` such as `[::7f00:1]`, NAT64
`64:ff9b::/96` and `64:ff9b:1::/48`, 6to4, Teredo): requests-hardened unwraps only the mapped form. Error texts
never name the address a host resolved to (`BLOCKED_TEXT`): they would make an internal DNS oracle.

Tests: `FETCH_ALLOW_LOOPBACK_FOR_TESTS` (bool) or `FETCH_TEST_FIRST_HOP_ALLOWLIST` (exact "host:port"
strings) let the *first* request reach a loopback test server. Redirect hops never get loopback.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from urllib.parse import urlsplit

import requests
from requests_hardened import Config, HTTPSession
from requests_hardened.ip_filter import InvalidIPAddress
from requests_hardened.ip_filter_adapter import IPFilterAdapter

from annotate.conf import options

__all__ = [
    "BLOCKED_TEXT",
    "InvalidIPAddress",
    "UnsafeURL",
    "UrlParts",
    "address_blocked",
    "hardened_session",
    "loopback_allowed",
    "url_split",
]
BLOCKED_TEXT = "{host} is not a public internet address; only public hosts can be reached."
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")


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


def address_blocked(address: str | ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """True for any address a server-side request must not reach (see the module's note); also for text that is
    not an address at all."""
    try:
        ip = ipaddress.ip_address(address.strip("[]") if isinstance(address, str) else address)
    except ValueError:
        return True
    if ip.version == 6 and (
        ip.ipv4_mapped is not None
        or ip in _IPV4_COMPATIBLE
        or any(ip in net for net in _NAT64)
        or ip.sixtofour is not None
        or ip.teredo is not None
        or ip.scope_id
    ):
        return True
    return (
        not ip.is_global
        or ip.is_private
        or ip.is_reserved
        or ip.is_multicast
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_unspecified
        or (ip.version == 4 and ip in ipaddress.ip_network("100.64.0.0/10"))
    )


class _StrictAdapter(IPFilterAdapter):
    """requests-hardened's pinning adapter, with `address_blocked` applied to the address it pinned."""

    def build_connection_pool_key_attributes(self, request, verify, cert=None):  # type: ignore[no-untyped-def]
        host_params, pool_kwargs = super().build_connection_pool_key_attributes(request, verify, cert)
        pinned = str(host_params["host"]).strip("[]")
        ip = ipaddress.ip_address(pinned)
        if address_blocked(ip) and not (self._allow_loopback and ip.is_loopback):
            raise InvalidIPAddress(pinned)
        return host_params, pool_kwargs


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
    for prefix, https in (("http://", False), ("https://", True)):
        session.mount(prefix, _StrictAdapter(is_https_proto=https, allow_loopback=allow_loopback))
    session.trust_env = False  # an HTTP(S)_PROXY would make the filter check the proxy, not the target
    return session
