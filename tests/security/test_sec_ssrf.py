"""SSRF through URL import (CVE-2022-36551, CVE-2023-47116, CVE-2022-31188 in peers): every address class,
redirects into the private network, DNS names, odd schemes and spellings. Each is refused with a reason code
before any byte of the target is read; a redirect hop gets no loopback exemption even in tests."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

fetch = pytest.importorskip("labeling.services.ingestion.fetch", reason="ingestion capability not landed")
from labeling.services.ingestion.validation import Rejected  # noqa: E402

BLOCKED = [
    "http://127.0.0.1/", "http://127.1/", "http://2130706433/", "http://0x7f000001/", "http://0177.0.0.1/",
    "http://0.0.0.0/", "http://localhost/", "http://[::1]/", "http://[::ffff:127.0.0.1]/", "http://[::ffff:7f00:1]/",
    "http://10.0.0.1/", "http://172.16.0.1/", "http://192.168.1.1/", "http://169.254.169.254/latest/meta-data/",
    "http://100.64.0.1/", "http://[fd00::1]/", "http://[fe80::1]/", "http://224.0.0.1/", "http://255.255.255.255/",
    "http://198.18.0.1/",
]  # fmt: skip
BAD_SCHEMES = ["file:///etc/passwd", "gopher://127.0.0.1:6379/_INFO", "ftp://example.org/x.jpg",
               "dict://127.0.0.1:11211/", "javascript:alert(1)", "data:image/png;base64,iVBORw0KGgo="]  # fmt: skip
MALFORMED = ["http://", "http://[::1/", "http://example.org:99999/", "//example.org/x.jpg", "not a url"]


@pytest.mark.parametrize("url", BLOCKED)
def test_private_and_special_addresses_are_refused(settings, url):
    settings.ANNOTATE = {**settings.ANNOTATE, "FETCH_ALLOW_LOOPBACK_FOR_TESTS": False, "FETCH_TIMEOUT_SECONDS": 2}
    with pytest.raises(Rejected) as excinfo:
        fetch.url_fetch(url)
    assert excinfo.value.code in {"blocked_address", "invalid_url"}, (excinfo.value.code, excinfo.value.message)
    assert excinfo.value.message


@pytest.mark.parametrize("url", BAD_SCHEMES + MALFORMED)
def test_other_schemes_and_malformed_urls_are_refused(url):
    with pytest.raises(Rejected) as excinfo:
        fetch.url_fetch(url)
    assert excinfo.value.code in {"unsupported_scheme", "invalid_url"}, (url, excinfo.value.code)


class _Redirector(BaseHTTPRequestHandler):
    target = ""

    def do_GET(self) -> None:
        if self.path == "/secret":
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"internal secret")
            return
        self.send_response(302)
        self.send_header("Location", self.target or f"http://127.0.0.1:{self.server.server_port}/secret")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def redirector():
    server = HTTPServer(("127.0.0.1", 0), _Redirector)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("target", ["", "http://169.254.169.254/latest/meta-data/", "http://10.0.0.1/",
                                    "file:///etc/passwd"])  # fmt: skip
def test_a_redirect_into_the_private_network_is_refused(settings, redirector, target):
    """The first hop is allowed (a test server on loopback); the redirect it answers with is checked again."""
    _Redirector.target = target
    port = redirector.server_port
    settings.ANNOTATE = {**settings.ANNOTATE, "FETCH_ALLOW_LOOPBACK_FOR_TESTS": False, "FETCH_TIMEOUT_SECONDS": 2,
                         "FETCH_TEST_FIRST_HOP_ALLOWLIST": [f"127.0.0.1:{port}"]}  # fmt: skip
    with pytest.raises(Rejected) as excinfo:
        fetch.url_fetch(f"http://127.0.0.1:{port}/start")
    assert excinfo.value.code in {"blocked_address", "unsupported_scheme"}, excinfo.value.code
    # Control: the allow-listed first hop itself is reachable (so the refusal above is the redirect check).
    assert fetch.url_fetch(f"http://127.0.0.1:{port}/secret") == b"internal secret"
