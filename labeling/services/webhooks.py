"""Project webhooks: endpoints, events and their signed, retried, SSRF-safe delivery. README, "Webhooks".

Services that own a write (ingest batch, dataset version, export, training run) call `webhooks_emit` inside
their transaction; the delivery rows commit with the write and each is enqueued on the `default` queue after
commit. `webhook_delivery_attempt` makes one POST and records it; the Celery task retries it with exponential
backoff until it is delivered or its attempts run out, so every delivery ends delivered or failed.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import secrets
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import requests
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from annotate.conf import options
from annotate.exceptions import ServiceError
from labeling.models import Project, WebhookDelivery, WebhookEndpoint, WebhookEvent
from labeling.services.safe_http import (
    BLOCKED_TEXT,
    InvalidIPAddress,
    UnsafeURL,
    UrlParts,
    address_blocked,
    hardened_session,
    loopback_allowed,
    url_split,
)

logger = logging.getLogger(__name__)

USER_AGENT = "AnnotateWebhooks/1.0"
SIGNATURE_HEADER = "X-Annotate-Signature"
TIMESTAMP_HEADER = "X-Annotate-Timestamp"
SUBSCRIBABLE = [e.value for e in WebhookEvent if e != WebhookEvent.PING]
_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
_RETRY_STATUSES = frozenset({408, 425, 429})


@dataclass(frozen=True, slots=True)
class CreatedEndpoint:
    endpoint: WebhookEndpoint
    secret: str  # shown once: nothing ever reads it back out


_HOST_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_LOCAL_NAMES = (".localhost", ".local", ".internal", ".localdomain", ".home.arpa")


def _check_url(url: str, *, creating: bool = False) -> UrlParts:
    """HTTPS only; plain http only to a loopback host under the test-only fetch switch. At creation also: no
    whitespace or control character anywhere, no credentials, a well-formed host name (or a public IP
    literal), and no local-only name. Nothing is resolved here: the address is judged when a delivery connects
    (safe_http), and no error text ever says what a host resolves to."""
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in url):
        raise ServiceError("The URL contains spaces or control characters.", code="invalid_url")
    try:
        parts = url_split(url, schemes=frozenset({"http", "https"}))
    except UnsafeURL as exc:
        message = exc.message if exc.code != "unsupported_scheme" else "Webhook endpoints must use https://."
        raise ServiceError(message, code=exc.code) from exc
    test_loopback = parts.host in _LOOPBACK_HOSTS and loopback_allowed(parts.host, parts.port)
    if parts.scheme != "https" and not test_loopback:
        raise ServiceError("Webhook endpoints must use https://.", code="https_required")
    if not creating or test_loopback:
        return parts
    split = urlsplit(url)
    if split.username is not None or split.password is not None:
        raise ServiceError("Credentials in the URL are not accepted; verify the signature instead.", code="invalid_url")
    host = parts.host.rstrip(".")
    if ":" in host or re.fullmatch(r"[0-9.]+", host):
        if address_blocked(host):
            raise ServiceError(BLOCKED_TEXT.format(host=host), code="blocked_address")
        return parts
    try:
        ascii_host = host.encode("idna").decode("ascii").lower()
    except UnicodeError as exc:
        raise ServiceError("The URL's host name is not valid.", code="invalid_url") from exc
    if ascii_host == "localhost" or ascii_host.endswith(_LOCAL_NAMES):
        raise ServiceError(BLOCKED_TEXT.format(host=host), code="blocked_address")
    labels = ascii_host.split(".")
    if len(ascii_host) > 253 or len(labels) < 2 or not all(_HOST_LABEL.match(label) for label in labels):
        raise ServiceError("The URL's host name is not valid.", code="invalid_url")
    return parts


def _url_key(url: str) -> str:
    """The URL as compared for duplicates: scheme and host in lower case, the default port and a bare path dropped."""
    parts = urlsplit(url)
    host = (parts.hostname or "").rstrip(".")
    default = {"https": 443, "http": 80}.get(parts.scheme.lower())
    netloc = host if parts.port in (None, default) else f"{host}:{parts.port}"
    return f"{parts.scheme.lower()}://{netloc}{parts.path or '/'}{'?' + parts.query if parts.query else ''}"


def webhook_endpoint_create(
    *, project: Project, url: str, events: list[str] | None = None, created_by: Any = None
) -> CreatedEndpoint:
    """A new endpoint (its secret returned once). Refused: an invalid or local URL, the same URL and events as
    an endpoint the project already has, and more than WEBHOOK_MAX_ENDPOINTS endpoints per project."""
    url = (url or "").strip()
    if len(url) > 500:
        raise ServiceError("The URL is longer than 500 characters.", code="invalid_url")
    _check_url(url, creating=True)
    events = sorted(set(events or []))
    unknown = [e for e in events if e not in SUBSCRIBABLE]
    if unknown:
        raise ServiceError(f"Unknown events {unknown}; use {', '.join(SUBSCRIBABLE)}.", code="invalid_events")
    with transaction.atomic():
        Project.objects.select_for_update().filter(pk=project.pk).first()  # one creation per project at a time
        existing = list(WebhookEndpoint.objects.filter(project=project).values_list("url", "events"))
        limit = options().WEBHOOK_MAX_ENDPOINTS
        if len(existing) >= limit:
            raise ServiceError(f"A project has at most {limit} webhook endpoints.", code="too_many_endpoints",
                               status_code=409)  # fmt: skip
        if (_url_key(url), tuple(events)) in {(_url_key(u), tuple(sorted(e or []))) for u, e in existing}:
            raise ServiceError("This project already has a webhook with this URL and events.",
                               code="duplicate_endpoint", status_code=409)  # fmt: skip
        secret = secrets.token_hex(32)
        endpoint = WebhookEndpoint.objects.create(
            project=project, url=url, secret=secret, events=events, created_by=created_by
        )
    return CreatedEndpoint(endpoint, secret)


def webhook_endpoint_delete(*, endpoint: WebhookEndpoint) -> None:
    endpoint.delete()


def webhooks_emit(*, project_id: int, event: str, data: dict[str, Any]) -> list[int]:
    """Record one delivery per subscribed active endpoint and enqueue each after commit (ids returned)."""
    active = WebhookEndpoint.objects.filter(project_id=project_id, active=True)
    endpoints = [e for e in active if not e.events or event in e.events]
    if not endpoints:
        return []
    rows = WebhookDelivery.objects.bulk_create(
        [WebhookDelivery(endpoint=e, event=event, payload=data) for e in endpoints]
    )
    ids = [row.id for row in rows]
    _enqueue(ids)
    return ids


def webhook_send_test(*, endpoint: WebhookEndpoint) -> WebhookDelivery:
    """A `ping` delivery to this endpoint, through the same queue, signature and retries as real events. At
    most WEBHOOK_TESTS_PER_MINUTE per project in any minute (429 beyond)."""
    limit = options().WEBHOOK_TESTS_PER_MINUTE
    with transaction.atomic():
        Project.objects.select_for_update().filter(pk=endpoint.project_id).first()  # counted one at a time
        recent = WebhookDelivery.objects.filter(
            endpoint__project_id=endpoint.project_id,
            event=WebhookEvent.PING,
            created_at__gte=timezone.now() - timedelta(minutes=1),
        ).count()
        if recent >= limit:
            raise ServiceError(f"At most {limit} test events per minute; wait a moment.", code="throttled",
                               status_code=429)  # fmt: skip
        delivery = _test_delivery(endpoint)
    return delivery


def _test_delivery(endpoint: WebhookEndpoint) -> WebhookDelivery:
    delivery = WebhookDelivery.objects.create(
        endpoint=endpoint, event=WebhookEvent.PING, payload={"message": "Test event from Annotate."}
    )
    _enqueue([delivery.id])
    return delivery


def _enqueue(ids: list[int]) -> None:
    from labeling.tasks.webhooks import webhook_deliver

    # robust: a broker hiccup must not fail the write that caused the event (it is committed already); the
    # beat's webhook_deliveries_resume_stale sends what was never enqueued.
    transaction.on_commit(lambda: [webhook_deliver.delay(i) for i in ids], robust=True)


def webhook_deliveries_resume_stale(*, older_than: timedelta = timedelta(minutes=10)) -> list[int]:
    """Re-enqueue deliveries whose message was lost (never enqueued, or the worker died): pending for longer
    than `older_than`, or retrying that long past their next attempt. The beat's job; attempts are counted in
    the row, so a duplicate message only makes one more (signed, same-id) attempt."""
    from labeling.tasks.webhooks import webhook_deliver

    cutoff = timezone.now() - older_than
    stale = list(
        WebhookDelivery.objects.filter(
            Q(status=WebhookDelivery.Status.PENDING, created_at__lt=cutoff)
            | Q(status=WebhookDelivery.Status.RETRYING, next_retry_at__lt=cutoff)
        ).values_list("id", flat=True)[:1000]
    )
    for delivery_id in stale:
        webhook_deliver.delay(delivery_id)
    if stale:
        logger.warning("re-enqueued webhook deliveries whose message was lost: %s", stale)
    return stale


def sign(secret: str, body: bytes) -> str:
    """The signature header's value: `sha256=` + hex HMAC-SHA256 of the raw body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _body(delivery: WebhookDelivery, timestamp: int) -> bytes:
    doc = {
        "id": delivery.id,
        "event": delivery.event,
        "project": delivery.endpoint.project.slug,
        "created_at": delivery.created_at.isoformat(),
        "timestamp": timestamp,  # signed with the body: the receiver checks it equals the header and is recent
        "data": delivery.payload,
    }
    return json.dumps(doc, separators=(",", ":"), sort_keys=True).encode()


def retry_delay(attempts: int) -> float:
    """Seconds before attempt `attempts + 1`: base, 2 x base, 4 x base ..."""
    return options().WEBHOOK_RETRY_BASE_SECONDS * (2 ** max(attempts - 1, 0))


def _post(delivery: WebhookDelivery) -> tuple[int | None, str, bool]:
    """(HTTP status or None, error text, whether another attempt may succeed)."""
    url = delivery.endpoint.url
    try:
        _check_url(url)
        parts = url_split(url)
    except (ServiceError, UnsafeURL) as exc:
        return None, f"refused: {exc}", False
    timestamp = int(time.time())
    body = _body(delivery, timestamp)
    headers = {
        "Content-Type": "application/json",
        "X-Annotate-Event": delivery.event,
        "X-Annotate-Delivery": str(delivery.id),
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: sign(delivery.endpoint.secret, body),
    }
    timeout = options().WEBHOOK_TIMEOUT_SECONDS
    allow = loopback_allowed(parts.host, parts.port)
    try:
        with hardened_session(allow_loopback=allow, timeout=timeout, user_agent=USER_AGENT) as session:
            response = session.post(url, data=body, headers=headers, allow_redirects=False, stream=True)
            with response:
                code = response.status_code
    except InvalidIPAddress:
        return None, "blocked_address: " + BLOCKED_TEXT.format(host=parts.host), False
    except requests.Timeout:
        return None, f"timeout: no answer within {timeout:g} s.", True
    except requests.RequestException as exc:
        return None, f"unreachable: {type(exc).__name__}.", True
    if 200 <= code < 300:
        return code, "", False
    if 300 <= code < 400:
        return code, f"HTTP {code}: redirects are not followed.", False
    return code, f"HTTP {code}.", code >= 500 or code in _RETRY_STATUSES


def webhook_delivery_attempt(*, delivery_id: int) -> float | None:
    """One POST of the delivery, recorded. Returns the seconds to wait before the next attempt, or None
    when the delivery is finished (delivered, failed, gone)."""
    delivery = WebhookDelivery.objects.select_related("endpoint__project").filter(pk=delivery_id).first()
    if delivery is None or delivery.status in (WebhookDelivery.Status.DELIVERED, WebhookDelivery.Status.FAILED):
        return None
    started = time.monotonic()
    code, error, retryable = _post(delivery)
    attempts = delivery.attempts + 1
    now = timezone.now()
    fields = {"attempts": attempts, "response_status": code, "error": error[:2000],
              "duration_ms": int((time.monotonic() - started) * 1000)}  # fmt: skip
    delay = None
    if not error:
        fields.update(status=WebhookDelivery.Status.DELIVERED, next_retry_at=None, finished_at=now)
    elif retryable and attempts < options().WEBHOOK_MAX_ATTEMPTS:
        delay = retry_delay(attempts)
        fields.update(status=WebhookDelivery.Status.RETRYING, next_retry_at=now + timedelta(seconds=delay))
    else:
        if retryable:
            fields["error"] = f"{error} Gave up after {attempts} attempts."[:2000]
        fields.update(status=WebhookDelivery.Status.FAILED, next_retry_at=None, finished_at=now)
    WebhookDelivery.objects.filter(pk=delivery.pk).update(**fields)
    if error:
        logger.info("webhook delivery %s attempt %s: %s", delivery.pk, attempts, error)
    return delay


def webhook_delivery_give_up(*, delivery_id: int, reason: str) -> None:
    """The task could not run the delivery to its end (e.g. it crashed): it ends failed, never pending."""
    WebhookDelivery.objects.filter(pk=delivery_id).exclude(
        status__in=(WebhookDelivery.Status.DELIVERED, WebhookDelivery.Status.FAILED)
    ).update(status=WebhookDelivery.Status.FAILED, error=reason[:2000], next_retry_at=None, finished_at=timezone.now())
