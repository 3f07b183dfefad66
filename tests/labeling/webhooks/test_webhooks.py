"""Webhooks against a real local HTTP server: signed bodies, retries, SSRF refusal, scoping, a worker's export."""

from __future__ import annotations

import hashlib
import hmac
import http.server
import json
import threading
import time

import pytest

from annotate.exceptions import ServiceError
from labeling.models import DatasetExport, WebhookDelivery, WebhookEndpoint
from labeling.services.datasets import dataset_version_create
from labeling.services.webhooks import (
    webhook_delivery_attempt,
    webhook_endpoint_create,
    webhook_send_test,
    webhooks_emit,
)
from tests.labeling.datasets import factories as f


class Receiver(http.server.BaseHTTPRequestHandler):
    """POST /ok -> 204; /flaky(-worker) -> 500 on the first request, then 200; /down -> always 503."""

    def log_message(self, *args):
        pass

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        server = self.server
        with server.lock:
            server.received.append((self.path, dict(self.headers), body))
            seen = sum(1 for p, _, _ in server.received if p == self.path)
        flaky = 500 if seen == 1 else 200
        code = {"/ok": 204, "/flaky": flaky, "/flaky-worker": flaky, "/down": 503}.get(self.path, 404)
        self.send_response(code)
        self.send_header("Content-Length", "0")
        self.end_headers()


@pytest.fixture(scope="module")
def receiver():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    httpd.daemon_threads = True
    httpd.received, httpd.lock = [], threading.Lock()
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield httpd
    httpd.shutdown()


@pytest.fixture
def loopback(settings):
    settings.ANNOTATE = {**settings.ANNOTATE, "FETCH_ALLOW_LOOPBACK_FOR_TESTS": True, "WEBHOOK_RETRY_BASE_SECONDS": 3}
    return settings


@pytest.fixture
def project(make_user):
    return f.project(make_user("rita", role="researcher"), slug="birds", classes=("cat", "dog"))


def _url(receiver, path: str) -> str:
    return f"http://127.0.0.1:{receiver.server_port}{path}"


def _requests_to(receiver, path: str, since: int = 0) -> list[tuple[dict, bytes]]:
    with receiver.lock:
        return [(h, b) for p, h, b in receiver.received[since:] if p == path]


def _verify(secret: str, headers: dict, body: bytes) -> dict:
    """What a receiver does: HMAC of the raw body, constant-time compare, timestamp inside the signed body."""
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(headers["X-Annotate-Signature"], expected)
    doc = json.loads(body)
    assert str(doc["timestamp"]) == headers["X-Annotate-Timestamp"]
    assert abs(time.time() - doc["timestamp"]) < 300
    return doc


@pytest.mark.django_db
def test_a_delivery_is_signed_with_the_endpoint_secret(project, receiver, loopback):
    created = webhook_endpoint_create(project=project, url=_url(receiver, "/ok"))
    delivery = webhook_send_test(endpoint=created.endpoint)
    before = len(receiver.received)
    assert webhook_delivery_attempt(delivery_id=delivery.id) is None
    [(headers, body)] = _requests_to(receiver, "/ok", before)
    doc = _verify(created.secret, headers, body)
    assert (doc["event"], doc["project"], doc["id"]) == ("ping", "birds", delivery.id)
    assert headers["X-Annotate-Event"] == "ping"
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.response_status) == ("delivered", 1, 204)
    assert delivery.duration_ms is not None and delivery.finished_at is not None
    # A tampered body does not verify with the secret.
    with pytest.raises(AssertionError):
        _verify(created.secret, headers, body.replace(b"birds", b"bards"))


@pytest.mark.django_db
def test_a_500_is_retried_with_backoff_then_delivered(project, receiver, loopback):
    created = webhook_endpoint_create(project=project, url=_url(receiver, "/flaky"))
    delivery = webhook_send_test(endpoint=created.endpoint)
    assert webhook_delivery_attempt(delivery_id=delivery.id) == 3  # base delay before the 2nd attempt
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.response_status) == ("retrying", 1, 500)
    assert delivery.error == "HTTP 500." and delivery.next_retry_at is not None
    assert webhook_delivery_attempt(delivery_id=delivery.id) is None
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.response_status, delivery.error) == ("delivered", 2, 200, "")


@pytest.mark.django_db
def test_a_receiver_that_stays_down_ends_failed_after_the_last_attempt(project, receiver, loopback):
    loopback.ANNOTATE = {**loopback.ANNOTATE, "WEBHOOK_MAX_ATTEMPTS": 3}
    delivery = webhook_send_test(
        endpoint=webhook_endpoint_create(project=project, url=_url(receiver, "/down")).endpoint
    )
    delays = [webhook_delivery_attempt(delivery_id=delivery.id) for _ in range(3)]
    assert delays == [3, 6, None]  # exponential: base, 2 x base, then give up
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.response_status) == ("failed", 3, 503)
    assert "Gave up after 3 attempts" in delivery.error and delivery.next_retry_at is None


@pytest.mark.django_db
@pytest.mark.parametrize("url", ["https://127.0.0.1/hook", "https://169.254.169.254/latest", "https://10.0.0.1/",
                                 "https://[::1]/", "https://192.168.1.1:8443/x"])  # fmt: skip
def test_private_addresses_are_refused_and_not_retried(project, settings, url):
    settings.ANNOTATE = {**settings.ANNOTATE, "FETCH_ALLOW_LOOPBACK_FOR_TESTS": False, "WEBHOOK_TIMEOUT_SECONDS": 2}
    with pytest.raises(ServiceError) as refused:  # issue 25: refused at creation already (an IP literal)
        webhook_endpoint_create(project=project, url=url)
    assert refused.value.code == "blocked_address"
    # An endpoint stored before that check (or a name that resolves there later) is refused at delivery.
    endpoint = WebhookEndpoint.objects.create(project=project, url=url, secret="s" * 64, events=[])
    delivery = webhook_send_test(endpoint=endpoint)
    assert webhook_delivery_attempt(delivery_id=delivery.id) is None
    delivery.refresh_from_db()
    assert delivery.status == "failed" and delivery.attempts == 1
    assert delivery.error.startswith("blocked_address"), delivery.error


@pytest.mark.django_db
def test_the_loopback_test_server_is_unreachable_without_the_test_switch(project, receiver, settings):
    settings.ANNOTATE = {**settings.ANNOTATE, "FETCH_ALLOW_LOOPBACK_FOR_TESTS": True}
    endpoint = webhook_endpoint_create(project=project, url=_url(receiver, "/ok")).endpoint
    settings.ANNOTATE = {**settings.ANNOTATE, "FETCH_ALLOW_LOOPBACK_FOR_TESTS": False}
    before = len(receiver.received)
    delivery = webhook_send_test(endpoint=endpoint)
    assert webhook_delivery_attempt(delivery_id=delivery.id) is None
    delivery.refresh_from_db()
    assert delivery.status == "failed" and delivery.error.startswith("refused")  # http:// outside tests
    assert len(receiver.received) == before


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("http://example.org/hook", "https_required"),
        ("ftp://example.org/", "unsupported_scheme"),
        ("https://", "invalid_url"),
    ],
)
def test_only_https_endpoints_are_accepted(project, api_client, url, code):
    api_client.force_authenticate(project.owners.get())
    response = api_client.post("/api/projects/birds/webhooks/", {"url": url}, format="json")
    assert response.status_code == 400 and response.json()["code"] == code


@pytest.mark.django_db
def test_the_api_is_scoped_to_the_projects_researchers(project, make_user, api_client, loopback, receiver):
    owner = project.owners.get()
    api_client.force_authenticate(owner)
    response = api_client.post(
        "/api/projects/birds/webhooks/", {"url": _url(receiver, "/ok"), "events": ["export.ready"]}, format="json"
    )
    assert response.status_code == 201
    created = response.json()
    assert len(created["secret"]) == 64 and created["events"] == ["export.ready"]
    listed = api_client.get("/api/projects/birds/webhooks/").json()
    assert [e["id"] for e in listed] == [created["id"]] and "secret" not in listed[0]
    assert api_client.post(f"/api/projects/birds/webhooks/{created['id']}/test/").status_code == 202
    [log] = api_client.get("/api/projects/birds/webhooks/deliveries/").json()
    assert (log["event"], log["status"]) == ("ping", "pending")

    other = make_user("otto", role="researcher")
    f.project(other, slug="otters", classes=("a", "b"))
    api_client.force_authenticate(other)
    base = f"/api/projects/birds/webhooks/{created['id']}"
    assert api_client.get("/api/projects/birds/webhooks/").status_code == 404
    assert api_client.get("/api/projects/birds/webhooks/deliveries/").status_code == 404
    assert api_client.post(f"{base}/test/").status_code == 404
    assert api_client.delete(f"{base}/").status_code == 404
    # The id under the other researcher's own project is a 404 too.
    assert api_client.delete(f"/api/projects/otters/webhooks/{created['id']}/").status_code == 404
    volunteer = make_user("vic")
    api_client.force_authenticate(volunteer)
    assert api_client.get("/api/projects/birds/webhooks/").status_code in (403, 404)
    api_client.force_authenticate(owner)
    assert api_client.delete(f"{base}/").status_code == 204
    assert not WebhookDelivery.objects.exists()


@pytest.mark.django_db
def test_only_subscribed_events_are_recorded(project, loopback, receiver, django_capture_on_commit_callbacks):
    all_events = webhook_endpoint_create(project=project, url=_url(receiver, "/ok")).endpoint
    exports_only = webhook_endpoint_create(project=project, url=_url(receiver, "/ok"), events=["export.ready"])
    with django_capture_on_commit_callbacks() as callbacks:
        ids = webhooks_emit(project_id=project.id, event="dataset_version.created", data={"version": 1})
    assert len(callbacks) == 1  # enqueued after commit, one callback for the lot
    assert [WebhookDelivery.objects.get(pk=i).endpoint_id for i in ids] == [all_events.id]
    assert exports_only.endpoint.deliveries.count() == 0


@pytest.mark.django_db
def test_the_page_shows_the_secret_once_and_the_log(project, client, make_user, loopback, receiver):
    client.force_login(project.owners.get())
    page = client.post("/projects/birds/webhooks/", {"action": "add", "add-url": _url(receiver, "/ok")})
    assert page.status_code == 200
    endpoint = project.webhooks.get()
    assert endpoint.secret in page.content.decode()
    assert endpoint.secret not in client.get("/projects/birds/webhooks/").content.decode()
    client.post("/projects/birds/webhooks/", {"action": "test", "pk": endpoint.pk})
    detail = client.get("/projects/birds/").content.decode()
    assert 'data-testid="project-webhook-log"' in detail and "ping" in detail
    client.force_login(make_user("otto", role="researcher"))
    assert client.get("/projects/birds/webhooks/").status_code == 404


@pytest.mark.worker
def test_a_worker_export_fires_export_ready_and_the_version_event(transactional_db, celery_worker, make_user,
                                                                   receiver, settings):  # fmt: skip
    """The real path: services enqueue after commit, the worker exports, then delivers the signed events."""
    settings.ANNOTATE = {**settings.ANNOTATE, "FETCH_ALLOW_LOOPBACK_FOR_TESTS": True}
    from labeling.services.exports import dataset_export_request

    researcher = make_user("rita", role="researcher")
    project = f.project(researcher, slug="wh-export", classes=("cat", "dog"))
    f.classify_images(project, [make_user(f"v{i}") for i in range(3)], {"cat": 3, "dog": 3})
    created = webhook_endpoint_create(project=project, url=_url(receiver, "/ok"))
    version = dataset_version_create(project=project, seed=0)
    export = dataset_export_request(version=version, fmt="csv")
    deadline = time.monotonic() + 60
    while WebhookDelivery.objects.filter(endpoint=created.endpoint, status="delivered").count() < 2:
        assert time.monotonic() < deadline, (list(WebhookDelivery.objects.values()), celery_worker.log())
        time.sleep(0.2)
    export.refresh_from_db()
    assert export.status == DatasetExport.Status.DONE
    docs = {}
    for headers, body in _requests_to(receiver, "/ok"):
        doc = json.loads(body)
        if doc["project"] == "wh-export":
            docs[doc["event"]] = _verify(created.secret, headers, body)
    assert docs["dataset_version.created"]["data"]["version"] == version.number
    ready = docs["export.ready"]["data"]
    assert (ready["export"], ready["status"], ready["format"]) == (export.id, "done", "csv")
    assert ready["download_url"] == f"/api/exports/{export.id}/download/"


@pytest.mark.django_db
def test_a_cancelled_queued_run_fires_training_run_finished(project, receiver, loopback, make_user):
    from training.models import TrainingRun
    from training.services.runs import run_cancel

    webhook_endpoint_create(project=project, url=_url(receiver, "/ok"), events=["training_run.finished"])
    f.classify_images(project, [make_user(f"v{i}") for i in range(3)], {"cat": 3, "dog": 3})
    version = dataset_version_create(project=project, seed=0)
    run = TrainingRun.objects.create(version=version, architecture="small_cnn", config={"epochs": 1})
    assert not WebhookDelivery.objects.exists()  # queued is not finished
    run_cancel(run=run)
    [delivery] = WebhookDelivery.objects.all()
    assert delivery.event == "training_run.finished"
    assert (delivery.payload["run"], delivery.payload["status"]) == (run.pk, "cancelled")


@pytest.mark.worker
def test_the_worker_retries_a_500_then_delivers(transactional_db, celery_worker, make_user, receiver, settings):
    """The Celery path of a retry: the task re-enqueues itself with the backoff (0.2 s for the test worker)."""
    settings.ANNOTATE = {**settings.ANNOTATE, "FETCH_ALLOW_LOOPBACK_FOR_TESTS": True}
    project = f.project(make_user("rita", role="researcher"), slug="wh-retry", classes=("cat", "dog"))
    path = "/flaky-worker"
    created = webhook_endpoint_create(project=project, url=_url(receiver, path))
    delivery = webhook_send_test(endpoint=created.endpoint)
    deadline = time.monotonic() + 60
    while (delivery := WebhookDelivery.objects.get(pk=delivery.pk)).status not in ("delivered", "failed"):
        assert time.monotonic() < deadline, (delivery.status, celery_worker.log())
        time.sleep(0.1)
    assert (delivery.status, delivery.attempts, delivery.response_status) == ("delivered", 2, 200)
    first, second = _requests_to(receiver, path)
    _verify(created.secret, *first)
    _verify(created.secret, *second)
    assert json.loads(first[1])["id"] == json.loads(second[1])["id"] == delivery.pk  # the receiver can dedupe


@pytest.mark.django_db
def test_deliveries_whose_message_was_lost_are_sent_again_by_the_beat(project, receiver, loopback):
    from datetime import timedelta

    from django.utils import timezone

    from labeling.services.webhooks import webhook_deliveries_resume_stale

    endpoint = webhook_endpoint_create(project=project, url=_url(receiver, "/ok")).endpoint
    lost, fresh, waiting = (webhook_send_test(endpoint=endpoint) for _ in range(3))
    long_ago = timezone.now() - timedelta(minutes=30)
    WebhookDelivery.objects.filter(pk=lost.pk).update(created_at=long_ago)
    WebhookDelivery.objects.filter(pk=waiting.pk).update(status="retrying", next_retry_at=timezone.now())
    assert webhook_deliveries_resume_stale() == [lost.pk]
    assert webhook_delivery_attempt(delivery_id=lost.pk) is None  # what the re-sent message does
    assert WebhookDelivery.objects.get(pk=lost.pk).status == "delivered"
    assert WebhookDelivery.objects.get(pk=fresh.pk).status == "pending"
