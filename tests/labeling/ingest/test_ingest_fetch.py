"""URL lists fetched through the SSRF-safe client, against a real local HTTP server."""

from __future__ import annotations

import http.server
import threading
import time

import pytest

from labeling.models import IngestBatch, IngestEntry
from labeling.services.ingestion import batch_create, batch_run
from labeling.services.ingestion.fetch import url_fetch
from labeling.services.ingestion.validation import Rejected
from tests.helpers.images import jpeg_bytes

IMAGE = jpeg_bytes(96, 64, seed=21)


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):  # keep test output quiet
        pass

    def do_GET(self):
        if self.path == "/img.jpg":
            self.send_response(200)
            self.send_header("Content-Type", "image/jpeg")
            self.send_header("Content-Length", str(len(IMAGE)))
            self.end_headers()
            self.wfile.write(IMAGE)
        elif self.path == "/redirect":
            self.send_response(302)
            self.send_header("Location", f"http://127.0.0.1:{self.server.server_port}/img.jpg")
            self.end_headers()
        elif self.path == "/endless":  # "5 GB": no length, streams until the client gives up
            self.send_response(200)
            self.send_header("Content-Type", "image/jpeg")
            self.end_headers()
            chunk = b"\xff" * 65536
            try:
                for _ in range(80_000):
                    self.wfile.write(chunk)
            except (BrokenPipeError, ConnectionResetError):
                pass
        elif self.path == "/hang":
            time.sleep(5)
        else:
            self.send_response(404)
            self.end_headers()


@pytest.fixture(scope="module")
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"127.0.0.1:{httpd.server_port}"
    httpd.shutdown()


@pytest.fixture
def strict(settings):
    settings.ANNOTATE = {**settings.ANNOTATE, "FETCH_ALLOW_LOOPBACK_FOR_TESTS": False, "FETCH_TIMEOUT_SECONDS": 1}
    return settings


def _code(url: str) -> str:
    with pytest.raises(Rejected) as exc:
        url_fetch(url)
    return exc.value.code


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://10.0.0.1/",
        "http://100.64.0.1/",
    ],
)
def test_non_public_addresses_are_refused(strict, url):
    assert _code(url) == "blocked_address"


def test_a_hostname_resolving_to_loopback_is_refused(strict, server):
    port = server.split(":")[1]
    assert _code(f"http://localhost:{port}/img.jpg") == "blocked_address"


def test_a_redirect_to_loopback_is_refused_even_when_the_first_hop_was_allowed(strict, server):
    strict.ANNOTATE = {**strict.ANNOTATE, "FETCH_TEST_FIRST_HOP_ALLOWLIST": [server]}
    assert url_fetch(f"http://{server}/img.jpg") == IMAGE  # the first hop alone is allowed
    assert _code(f"http://{server}/redirect") == "blocked_address"  # its redirect target is not


@pytest.mark.parametrize("url", ["file:///etc/passwd", "gopher://example.org:70/1", "ftp://example.org/x.jpg"])
def test_other_schemes_are_refused(strict, url):
    assert _code(url) == "unsupported_scheme"


def test_an_endless_body_stops_at_the_byte_cap(strict, server):
    strict.ANNOTATE = {**strict.ANNOTATE, "FETCH_TEST_FIRST_HOP_ALLOWLIST": [server], "FETCH_MAX_BYTES": 1_000_000}
    started = time.monotonic()
    assert _code(f"http://{server}/endless") == "too_large"
    assert time.monotonic() - started < 5


def test_a_hanging_server_times_out(strict, server):
    strict.ANNOTATE = {**strict.ANNOTATE, "FETCH_TEST_FIRST_HOP_ALLOWLIST": [server]}
    started = time.monotonic()
    assert _code(f"http://{server}/hang") == "timeout"
    assert time.monotonic() - started < 4


@pytest.mark.django_db
def test_url_list_batch_reports_every_refusal_and_ingests_the_good_url(project, tmp_path, settings, server):
    settings.ANNOTATE = {
        **settings.ANNOTATE,
        "FETCH_ALLOW_LOOPBACK_FOR_TESTS": True,  # first hops only: the positive path
        "FETCH_TIMEOUT_SECONDS": 1,
        "FETCH_MAX_BYTES": 1_000_000,
    }
    lines = [
        "url,category,license,attribution,query",
        f"http://{server}/img.jpg,heron,CC-BY-4.0,Ann Photographer,grey heron",
        "http://169.254.169.254/,heron",
        "file:///etc/passwd,heron",
        f"http://{server}/redirect,heron",
        f"http://{server}/missing.jpg,heron",
    ]
    path = tmp_path / "urls.csv"
    path.write_text("\n".join(lines))
    batch = batch_create(project=project, kind=IngestBatch.Kind.URLS, source=str(path))
    batch = batch_run(batch_id=batch.id)
    by_url = {e.key.split("\t")[0]: e for e in batch.entries.all()}
    assert by_url[f"http://{server}/img.jpg"].status == IngestEntry.Status.INGESTED
    assert by_url["http://169.254.169.254/"].reason_code == "blocked_address"
    assert by_url["file:///etc/passwd"].reason_code == "unsupported_scheme"
    assert by_url[f"http://{server}/redirect"].reason_code == "blocked_address"
    assert by_url[f"http://{server}/missing.jpg"].reason_code == "http_error"
    source = project.image_sources.get()
    assert (source.license, source.attribution, source.query) == ("CC-BY-4.0", "Ann Photographer", "grey heron")
    assert source.source_uri == f"http://{server}/img.jpg" and source.candidate_category.name == "heron"


@pytest.mark.django_db
def test_plain_text_url_list_uses_the_default_category(project, tmp_path, settings, server):
    settings.ANNOTATE = {**settings.ANNOTATE, "FETCH_ALLOW_LOOPBACK_FOR_TESTS": True, "FETCH_TIMEOUT_SECONDS": 1}
    path = tmp_path / "urls.txt"
    path.write_text(f"# crawl\nhttp://{server}/img.jpg\n")
    heron = project.categories.get(name="heron")
    batch = batch_create(project=project, kind=IngestBatch.Kind.URLS, source=str(path), default_category=heron)
    batch = batch_run(batch_id=batch.id)
    assert batch.ingested == 1 and project.image_sources.get().candidate_category == heron
