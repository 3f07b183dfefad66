"""Issue 28, finding 4: a server that trickles one byte every 0.2 s never trips the read timeout; the
whole-download deadline (6 x FETCH_TIMEOUT_SECONDS) must still end the download, by a watchdog that shuts the
response's socket down (the old check ran between 64 KiB reads, so it waited for 64 KiB to trickle in)."""

from __future__ import annotations

import http.server
import threading
import time

import pytest

from labeling.services.ingestion.fetch import url_fetch
from labeling.services.ingestion.validation import Rejected


class Trickle(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "image/jpeg")
        self.send_header("Content-Length", "100000")
        self.end_headers()
        try:
            for _ in range(100_000):
                self.wfile.write(b"\xff")
                self.wfile.flush()
                time.sleep(0.2)
        except (BrokenPipeError, ConnectionResetError, OSError):
            pass


@pytest.fixture
def trickle_server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Trickle)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"127.0.0.1:{httpd.server_port}"
    httpd.shutdown()


def test_a_trickling_server_is_stopped_at_the_deadline(settings, trickle_server):
    settings.ANNOTATE = {**settings.ANNOTATE, "FETCH_ALLOW_LOOPBACK_FOR_TESTS": False, "FETCH_TIMEOUT_SECONDS": 1,
                         "FETCH_TEST_FIRST_HOP_ALLOWLIST": [trickle_server]}  # fmt: skip
    started = time.monotonic()
    with pytest.raises(Rejected) as exc:
        url_fetch(f"http://{trickle_server}/slow.jpg")
    elapsed = time.monotonic() - started
    assert exc.value.code == "timeout"
    assert elapsed < 9, elapsed  # deadline 6 s; the old code ran until 64 KiB arrived (~3.6 hours)
