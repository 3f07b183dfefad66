"""SSRF-safe HTTP(S) fetching with requests-hardened.

requests-hardened resolves the host once at connect time, refuses private, loopback, link-local,
CGNAT, reserved and multicast addresses (IPv4-mapped IPv6 unwrapped first) and pins the connection
to the checked IP, so DNS rebinding cannot swap the address afterwards. We add: an http/https-only
scheme check, redirects followed by hand (each hop is a new checked request), connect/read timeouts
plus a whole-download deadline, a streaming byte cap, no proxies from the environment, and a bounded
number of concurrent fetches per host.

Tests: `FETCH_ALLOW_LOOPBACK_FOR_TESTS` (bool) or `FETCH_TEST_FIRST_HOP_ALLOWLIST` (exact "host:port"
strings) let the *first* request of a fetch reach a loopback test server. Redirect hops never get
loopback, whatever the settings.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from urllib.parse import urljoin, urlsplit

import requests
from requests_hardened import Config, HTTPSession
from requests_hardened.ip_filter import InvalidIPAddress

from annotate.conf import options
from annotate.inputs import ascii_int
from labeling.services.ingestion.validation import Rejected

USER_AGENT = "AnnotateIngest/1.0 (+image crawl verification)"
_host_slots: dict[str, threading.BoundedSemaphore] = defaultdict(
    lambda: threading.BoundedSemaphore(options().FETCH_PER_HOST)
)
_host_slots_lock = threading.Lock()


def _host_slot(host: str) -> threading.BoundedSemaphore:
    with _host_slots_lock:
        return _host_slots[host]


def _loopback_allowed_for_first_hop(host: str, port: int) -> bool:
    settings = options()
    return settings.FETCH_ALLOW_LOOPBACK_FOR_TESTS or f"{host}:{port}" in settings.FETCH_TEST_FIRST_HOP_ALLOWLIST


def _session(*, allow_loopback: bool, timeout: float) -> requests.Session:
    session = HTTPSession(
        Config(
            ip_filter_enable=True,
            ip_filter_allow_loopback_ips=allow_loopback,
            never_redirect=True,
            default_timeout=(timeout, timeout),
            user_agent_override=USER_AGENT,
        )
    )
    session.trust_env = False  # an HTTP(S)_PROXY would make the filter check the proxy, not the target
    return session


def _split(url: str) -> tuple[str, str, int]:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise Rejected("invalid_url", f"Not a valid URL: {exc}") from exc
    scheme = parts.scheme.lower()
    if scheme not in {"http", "https"}:
        raise Rejected("unsupported_scheme", f"Only http and https URLs are fetched, not {scheme or 'none'}:.")
    if not parts.hostname:
        raise Rejected("invalid_url", "The URL has no host.")
    return scheme, parts.hostname, port or (443 if scheme == "https" else 80)


def url_fetch(url: str) -> bytes:
    """The body of `url`, or `Rejected` with a reason code; at most FETCH_MAX_BYTES, within the timeouts."""
    timeout = options().FETCH_TIMEOUT_SECONDS
    max_bytes = options().FETCH_MAX_BYTES
    max_redirects = options().FETCH_MAX_REDIRECTS
    _, host, port = _split(url)
    with _host_slot(host):
        for hop in range(max_redirects + 1):
            _, host, port = _split(url)
            allow = hop == 0 and _loopback_allowed_for_first_hop(host, port)
            try:
                with _session(allow_loopback=allow, timeout=timeout) as session:
                    response = session.get(url, stream=True, allow_redirects=False)
                    with response:
                        if response.is_redirect:
                            url = urljoin(url, response.headers.get("location", ""))
                            continue
                        return _read_body(response, url, max_bytes=max_bytes, deadline=time.monotonic() + timeout * 6)
            except InvalidIPAddress as exc:
                raise Rejected("blocked_address", f"{host} resolves to a non-public address ({exc}).") from exc
            except requests.Timeout as exc:
                raise Rejected("timeout", f"No answer from {host} within {timeout:g} s.") from exc
            except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError) as exc:
                raise Rejected("unreachable", f"Could not fetch from {host}: {type(exc).__name__}.") from exc
            except requests.RequestException as exc:
                raise Rejected("fetch_failed", f"Could not fetch {url}: {type(exc).__name__}.") from exc
        raise Rejected("too_many_redirects", f"More than {max_redirects} redirects.")


def _read_body(response: requests.Response, url: str, *, max_bytes: int, deadline: float) -> bytes:
    if response.status_code != 200:
        raise Rejected("http_error", f"{url} answered HTTP {response.status_code}.")
    declared = ascii_int(response.headers.get("content-length", "").strip(), minimum=0)
    if declared is not None and declared > max_bytes:
        raise Rejected("too_large", f"{url} declares {declared} bytes; the limit is {max_bytes}.")
    chunks, total = [], 0
    for chunk in response.iter_content(chunk_size=64 * 1024):
        total += len(chunk)
        if total > max_bytes:
            raise Rejected("too_large", f"{url} sent more than {max_bytes} bytes; download stopped.")
        if time.monotonic() > deadline:
            raise Rejected("timeout", f"{url} took too long to download.")
        chunks.append(chunk)
    return b"".join(chunks)
