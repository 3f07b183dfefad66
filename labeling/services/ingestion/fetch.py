"""SSRF-safe HTTP(S) fetching of crawled images, on the shared hardened client (labeling.services.safe_http).

On top of it: redirects followed by hand (each hop is a new checked request; only the first hop may get the
test-only loopback exemption), connect/read timeouts plus a whole-download deadline, a streaming byte cap,
and a bounded number of concurrent fetches per host.

The deadline is a watchdog, not a check between reads: a server that sends a byte every half second never
trips the read timeout, and `iter_content` blocks until its 64 KiB are in. A timer shuts the response's
socket down when the deadline passes, which ends the blocked read at once.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections import defaultdict
from urllib.parse import urljoin

import requests

from annotate.conf import options
from annotate.inputs import ascii_int
from labeling.services.ingestion.validation import Rejected
from labeling.services.safe_http import (
    BLOCKED_TEXT,
    InvalidIPAddress,
    UnsafeURL,
    hardened_session,
    loopback_allowed,
    url_split,
)

USER_AGENT = "AnnotateIngest/1.0 (+image crawl verification)"
_host_slots: dict[str, threading.BoundedSemaphore] = defaultdict(
    lambda: threading.BoundedSemaphore(options().FETCH_PER_HOST)
)
_host_slots_lock = threading.Lock()


def _host_slot(host: str) -> threading.BoundedSemaphore:
    with _host_slots_lock:
        return _host_slots[host]


def _split(url: str) -> tuple[str, str, int]:
    try:
        parts = url_split(url)
    except UnsafeURL as exc:
        raise Rejected(exc.code, exc.message) from exc
    return parts.scheme, parts.host, parts.port


def url_fetch(url: str) -> bytes:
    """The body of `url`, or `Rejected` with a reason code; at most FETCH_MAX_BYTES, within the timeouts."""
    timeout = options().FETCH_TIMEOUT_SECONDS
    max_bytes = options().FETCH_MAX_BYTES
    max_redirects = options().FETCH_MAX_REDIRECTS
    _, host, port = _split(url)
    with _host_slot(host):
        for hop in range(max_redirects + 1):
            _, host, port = _split(url)
            allow = hop == 0 and loopback_allowed(host, port)
            try:
                with hardened_session(allow_loopback=allow, timeout=timeout, user_agent=USER_AGENT) as session:
                    response = session.get(url, stream=True, allow_redirects=False)
                    with response:
                        if response.is_redirect:
                            url = urljoin(url, response.headers.get("location", ""))
                            continue
                        return _read_body(response, url, max_bytes=max_bytes, deadline=time.monotonic() + timeout * 6)
            except InvalidIPAddress as exc:  # never the resolved address: that would be a DNS oracle
                raise Rejected("blocked_address", BLOCKED_TEXT.format(host=host)) from exc
            except requests.Timeout as exc:
                raise Rejected("timeout", f"No answer from {host} within {timeout:g} s.") from exc
            except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError) as exc:
                raise Rejected("unreachable", f"Could not fetch from {host}: {type(exc).__name__}.") from exc
            except requests.RequestException as exc:
                raise Rejected("fetch_failed", f"Could not fetch {url}: {type(exc).__name__}.") from exc
        raise Rejected("too_many_redirects", f"More than {max_redirects} redirects.")


def _response_socket(response: requests.Response) -> socket.socket | None:
    """The socket under a streamed response (urllib3 2: the connection; else http.client's reader)."""
    raw = response.raw
    conn = getattr(raw, "_connection", None) or getattr(raw, "connection", None)
    sock = getattr(conn, "sock", None)
    if sock is None:
        fp = getattr(getattr(raw, "_fp", None), "fp", None)
        sock = getattr(getattr(fp, "raw", None), "_sock", None)
    return sock if isinstance(sock, socket.socket) else None


class _Watchdog:
    """Shuts the response's socket down at the deadline: a read blocked on it returns at once."""

    def __init__(self, response: requests.Response, seconds: float) -> None:
        self.fired = False
        self._sock = _response_socket(response)
        self._response = response
        self._timer = threading.Timer(max(seconds, 0.0), self._fire)
        self._timer.daemon = True

    def _fire(self) -> None:
        self.fired = True
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(Exception):
            self._response.close()

    def __enter__(self) -> _Watchdog:
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()


def _read_body(response: requests.Response, url: str, *, max_bytes: int, deadline: float) -> bytes:
    if response.status_code != 200:
        raise Rejected("http_error", f"{url} answered HTTP {response.status_code}.")
    declared = ascii_int(response.headers.get("content-length", "").strip(), minimum=0)
    if declared is not None and declared > max_bytes:
        raise Rejected("too_large", f"{url} declares {declared} bytes; the limit is {max_bytes}.")
    chunks, total = [], 0
    with _Watchdog(response, deadline - time.monotonic()) as watchdog:
        try:
            for chunk in response.iter_content(chunk_size=64 * 1024):
                total += len(chunk)
                if total > max_bytes:
                    raise Rejected("too_large", f"{url} sent more than {max_bytes} bytes; download stopped.")
                if watchdog.fired or time.monotonic() > deadline:
                    raise Rejected("timeout", f"{url} took too long to download.")
                chunks.append(chunk)
        except (requests.RequestException, OSError, ValueError, AttributeError) as exc:
            if watchdog.fired:
                raise Rejected("timeout", f"{url} took too long to download.") from exc
            raise
    if watchdog.fired:
        raise Rejected("timeout", f"{url} took too long to download (stopped at {total} bytes).")
    return b"".join(chunks)
