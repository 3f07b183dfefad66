"""Suite-wide fixtures: users with roles, a real Celery worker, a live server with headless Chromium."""

from __future__ import annotations

import contextlib
import os
import threading
import time

import pytest

from tests.helpers.services import CHROMIUM, missing_service, require_broker, require_chromium

# Playwright's sync API runs an event loop in the test thread; Django's ORM calls in the
# same thread are still synchronous and safe.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-quic",
    "--disable-sync",
]


@pytest.fixture(autouse=True)
def _default_language_after_each_test():
    """A test that activates a language (a request through the test client in zh-Hans, translation.activate) leaves
    it active in its thread; the next test's service calls would then write Chinese text. Each test ends in the
    site's default language."""
    yield
    from django.utils import translation

    translation.deactivate()


@pytest.fixture
def make_user(db):
    """make_user("alice", role="researcher") -> a user with that role (password 'pw-<username>-123')."""
    from django.contrib.auth import get_user_model

    from annotate.roles import Role, role_assign

    def factory(username: str, *, role: str = "volunteer", password: str | None = None):
        user = get_user_model().objects.create_user(
            username=username, email=f"{username}@example.org", password=password or f"pw-{username}-123"
        )
        role_assign(user=user, role=Role(role))
        return user

    return factory


@pytest.fixture
def api_client():
    from rest_framework.test import APIClient

    return APIClient()


@pytest.fixture(scope="session")
def _session_celery_worker(django_db_setup, django_db_blocker):
    """The process behind `celery_worker`, started once per session (and again after `other_workers_stopped`)."""
    from tests.helpers.workers import WorkerProcess, purge_queues

    with django_db_blocker.unblock():
        require_broker()
        purge_queues()
        # Like in-process tests, the worker may reach a test's local HTTP server on its first hop (URL lists,
        # webhooks); webhook retries wait 0.2 s, 0.4 s ... instead of 30 s, 60 s ...
        env = {"ANNOTATE_FETCH_ALLOW_LOOPBACK_FOR_TESTS": "true", "ANNOTATE_WEBHOOK_RETRY_BASE_SECONDS": "0.2"}
        worker = WorkerProcess(queues="default,ingest,gpu", concurrency=2, env_extra=env).start()
        try:
            worker.wait_ready()
        except Exception:
            worker.stop()
            raise
    yield worker
    worker.stop()


@pytest.fixture
def celery_worker(_session_celery_worker, django_db_blocker):
    """One real worker for the session, consuming every queue, writing to the test database.

    Tests that use it must use `transactional_db` (the worker only sees committed rows). A test that had the
    queues to itself (`other_workers_stopped`) started it again without waiting; the next test to use it waits.
    """
    with django_db_blocker.unblock():
        _session_celery_worker.ensure_ready()
    return _session_celery_worker


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory):
    """A real S3 API (moto's server, a subprocess on 127.0.0.1) for the session; under CI=true a missing moto
    is a failure."""
    from tests.helpers.s3 import moto_available, start_moto

    if not moto_available():
        missing_service("moto[server] is not installed (requirements-dev.txt)")
    server = start_moto(tmp_path_factory.mktemp("moto"))
    yield server
    server.stop()


@pytest.fixture
def s3_bucket(s3_server, settings) -> str:
    """A fresh bucket, with this process's default storage pointed at it for the test."""
    from tests.helpers.s3 import use_s3

    bucket = s3_server.create_bucket()
    use_s3(settings, s3_server, bucket)
    return bucket


@pytest.fixture
def s3_worker(s3_server, s3_bucket, transactional_db):
    """A real worker (every queue) whose default storage is the test's bucket; the session's other workers are
    stopped meanwhile, so this one receives every task."""
    from tests.helpers.workers import WorkerProcess, other_workers_stopped, purge_queues

    require_broker()
    with other_workers_stopped():
        purge_queues()
        worker = WorkerProcess(queues="default,ingest,gpu", env_extra=s3_server.env(s3_bucket)).start()
        try:
            worker.wait_ready()
            yield worker
        finally:
            worker.stop()


@pytest.fixture(scope="session")
def browser():
    require_chromium()
    from playwright.sync_api import sync_playwright

    pw = sync_playwright().start()
    chromium = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
    yield chromium
    chromium.close()
    pw.stop()


class _RequestsInFlight:
    """Counts the requests the live server is handling, to wait until none is. A page's `pagehide` beacon
    (`navigator.sendBeacon`, the lease release) is sent as its context closes and Playwright never reports it,
    so only the server can tell when it has been handled."""

    def __init__(self, app):
        self.app = app
        self.count = 0
        self.lock = threading.Lock()

    def __call__(self, environ, start_response):
        with self.lock:
            self.count += 1
        try:
            # The body is produced inside the app call for Django's handler; count until it has returned.
            return self.app(environ, start_response)
        finally:
            with self.lock:
                self.count -= 1

    def wait_until_quiet(self, *, quiet_for: float = 0.3, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        quiet_since = time.monotonic()
        while time.monotonic() < deadline:
            if self.count:
                quiet_since = time.monotonic()
            elif time.monotonic() - quiet_since >= quiet_for:
                return
            time.sleep(0.02)


@pytest.fixture(scope="session")
def _live_server_requests(live_server) -> _RequestsInFlight:
    httpd = live_server.thread.httpd
    counter = _RequestsInFlight(httpd.get_app())
    httpd.set_app(counter)
    return counter


class PageFactory:
    """new_page(**context_options) -> a page in a fresh browser context (own cookies) with base_url = the live
    server; options (a phone's viewport, touch) go to Playwright's `new_context`."""

    def __init__(self, browser, base_url: str, requests: _RequestsInFlight):
        self.browser = browser
        self.base_url = base_url
        self.requests = requests
        self.contexts: list = []

    def __call__(self, **context_options):
        options = {"viewport": {"width": 1280, "height": 800}, **context_options}
        ctx = self.browser.new_context(base_url=self.base_url, **options)
        ctx.set_default_timeout(15_000)
        self.contexts.append(ctx)
        return ctx.new_page()

    def close_all(self) -> None:
        """Close every page and return once the server has handled all they sent. A page's own requests (a
        preload, a progress poll) may still be running, and leaving a labeling page sends its lease-release
        beacon, which Playwright never reports and which, on a loaded machine, can reach the server a second
        later; either reaching the server after the test's database teardown fails there (the flush of a
        transactional test even deadlocks with their row locks). So each page leaves first, while it is still
        open: its `pagehide` handlers run now, their beacons sent as ordinary requests this waits for, and no
        beacon goes out when the page then closes."""
        from playwright.sync_api import Error as PlaywrightError

        for ctx in self.contexts:
            for page in ctx.pages:
                with contextlib.suppress(PlaywrightError):  # a page that crashed or is gone sends nothing more
                    page.evaluate(_LEAVE_NOW)  # returns once each release has been answered
        while self.contexts:
            self.contexts.pop().close()
        self.requests.wait_until_quiet()


# Runs the page's `pagehide` handlers now, each beacon as an awaited fetch; afterwards a beacon is a no-op.
_LEAVE_NOW = """async () => {
  const sent = [];
  navigator.sendBeacon = (url, body) => {
    sent.push(fetch(url, {method: "POST", body, credentials: "same-origin"}).catch(() => null));
    return true;
  };
  window.dispatchEvent(new PageTransitionEvent("pagehide"));
  await Promise.all(sent);
  navigator.sendBeacon = () => true;
}"""


@pytest.fixture
def new_page(browser, live_server, _live_server_requests):
    factory = PageFactory(browser, live_server.url, _live_server_requests)
    yield factory
    factory.close_all()


def browser_login(page, username: str, password: str) -> None:
    page.goto("/accounts/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: "/accounts/login/" not in url)


@pytest.fixture
def no_worker():
    """A test that runs queued jobs itself. A session worker that an earlier test of this process started (the
    `celery_worker` fixture: a subprocess with the session's media folder, not this test's) would claim the queued
    job first and leave it running here, or fail it on a checkpoint it cannot see: stop it meanwhile, and purge
    the test's messages before it starts again."""
    from tests.helpers.workers import other_workers_stopped, purge_queues

    with other_workers_stopped():
        yield
        purge_queues()
