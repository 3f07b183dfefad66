"""What a Prometheus scraper reads from `/metrics`: the state of the system, computed at scrape time.

Every family is read from the database or the broker when scraped (a custom collector), not counted in the web
process: gunicorn runs several processes, and a counter kept in one of them would be a fraction of the truth.
Each read is bounded: indexed ranges (`Annotation.created_at`, `Lease.expires_at`), the `(project, status, …)`
index for the item counts, one row per project for the re-aggregation lag, one LLEN/LINDEX per queue.
The dashboard that charts them: `annotate/grafana/annotate.json` (tests/test_metrics.py parses both).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db.models import Count, OuterRef, Subquery
from django.utils import timezone
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from annotate.celery import SENT_AT_HEADER

QUEUES = ("default", "ingest", "gpu")
ANSWER_RATE_WINDOW_SECONDS = 60
PING_TIMEOUT_SECONDS = 1.0


class AnnotateCollector(Collector):
    def collect(self) -> Iterator[Metric]:
        yield from _answers()
        yield from _leases()
        yield from _items_by_state()
        yield from _reaggregation_lag()
        yield from _queues()
        yield from _workers()
        yield from _training_runs()


def metrics_text() -> bytes:
    """The exposition text of every family above (a fresh registry per scrape: nothing is kept between them)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(AnnotateCollector())
    return generate_latest(registry)


def _answers() -> Iterator[Metric]:
    from labeling.models import Annotation

    since = timezone.now() - timedelta(seconds=ANSWER_RATE_WINDOW_SECONDS)
    recent = Annotation.objects.filter(created_at__gte=since).count()
    rate = GaugeMetricFamily(
        "annotate_answers_per_second", f"Answers stored per second over the last {ANSWER_RATE_WINDOW_SECONDS} s."
    )
    rate.add_metric([], recent / ANSWER_RATE_WINDOW_SECONDS)
    yield rate
    last = Annotation.objects.order_by("-id").values_list("id", flat=True).first() or 0
    # The id sequence only grows: rate() over it is the answer rate, and it costs one index probe.
    total = GaugeMetricFamily("annotate_answers_last_id", "Id of the newest answer (a counter of answers stored).")
    total.add_metric([], last)
    yield total


def _leases() -> Iterator[Metric]:
    from labeling.models import Lease

    held = Lease.objects.filter(expires_at__gt=timezone.now()).count()
    family = GaugeMetricFamily("annotate_leases_held", "Active leases (items served to a volunteer and not answered).")
    family.add_metric([], held)
    yield family


def _items_by_state() -> Iterator[Metric]:
    from labeling.models import Item, Project

    slugs = dict(Project.objects.values_list("id", "slug"))
    family = GaugeMetricFamily("annotate_items", "Items by project and status.", labels=["project", "status"])
    rows = Item.objects.order_by().values_list("project_id", "status").annotate(n=Count("id"))
    for project_id, status, n in rows:
        family.add_metric([slugs.get(project_id, str(project_id)), status], n)
    yield family


def _reaggregation_lag() -> Iterator[Metric]:
    """Seconds the oldest vote not yet in a project's last full re-aggregation has waited (0: none waits).

    One row per project: the snapshot's time, and the first vote after it (the created_at index, walked from there).
    A project never re-aggregated counts from its first vote.
    """
    from labeling.models import Annotation, Project

    first_vote = Annotation.objects.filter(item__project_id=OuterRef("pk")).order_by("created_at").values("created_at")
    snapshot_at = OuterRef("quality_snapshot__computed_at")
    rows = list(
        Project.objects.filter(quality_snapshot__isnull=False)
        .annotate(waiting_since=Subquery(first_vote.filter(created_at__gt=snapshot_at)[:1]))
        .values_list("slug", "waiting_since")
    ) + list(
        Project.objects.filter(quality_snapshot__isnull=True)
        .annotate(waiting_since=Subquery(first_vote[:1]))
        .values_list("slug", "waiting_since")
    )
    now = timezone.now()
    lag = GaugeMetricFamily(
        "annotate_reaggregation_lag_seconds",
        "How long the oldest vote not yet in the project's last full re-aggregation has waited.",
        labels=["project"],
    )
    for slug, since in sorted(rows):
        lag.add_metric([slug], max(0.0, (now - since).total_seconds()) if since else 0.0)
    yield lag


def _queues() -> Iterator[Metric]:
    depth = GaugeMetricFamily("annotate_celery_queue_depth", "Messages waiting in a Celery queue.", labels=["queue"])
    age = GaugeMetricFamily(
        "annotate_celery_queue_oldest_age_seconds",
        "Age of the oldest message waiting in a Celery queue (0 when empty).",
        labels=["queue"],
    )
    up = GaugeMetricFamily("annotate_broker_up", "1 when the broker answered this scrape.")
    try:
        stats = list(queue_stats())
    except Exception:  # the broker is down: say so, and still serve the database's families
        up.add_metric([], 0)
        yield up
        return
    up.add_metric([], 1)
    now = time.time()
    for queue, n, oldest in stats:
        depth.add_metric([queue], n)
        age.add_metric([queue], max(0.0, now - oldest) if oldest else 0.0)
    yield up
    yield depth
    yield age


def queue_stats() -> Iterator[tuple[str, int, float | None]]:
    """(queue, messages waiting, send time of the oldest or None) for each of our queues, on the configured
    broker: Redis lists (kombu LPUSHes and BRPOPs, so the oldest is at the tail) or the filesystem folder."""
    from annotate.celery import app

    url = settings.CELERY_BROKER_URL
    if url.startswith("filesystem://"):
        folder = Path(settings.CELERY_BROKER_TRANSPORT_OPTIONS["data_folder_in"])
        for queue in QUEUES:
            files = [p for p in folder.iterdir() if p.name.partition(".")[2] == f"{queue}.msg"]
            oldest = min((_file_sent_at(p) for p in files), default=None)
            yield queue, len(files), oldest
        return
    with app.connection_for_read() as conn:
        channel = conn.default_channel
        if not url.startswith(("redis://", "rediss://")):
            for queue in QUEUES:  # AMQP: the count only (no peeking without consuming)
                _, count, _ = channel.queue_declare(queue=queue, passive=True)
                yield queue, count, None
            return
        client = channel.client
        prefix = getattr(channel, "global_keyprefix", "") or ""
        for queue in QUEUES:
            keys = [channel._q_for_pri(queue, pri) for pri in channel.priority_steps]
            count = sum(client.llen(key) for key in keys)  # LLEN is prefixed by kombu's client
            oldest = None
            for key in keys:
                raw = client.execute_command("LINDEX", prefix + key, -1)
                sent = _message_sent_at(raw) if raw else None
                if sent is not None:
                    oldest = sent if oldest is None else min(oldest, sent)
            yield queue, count, oldest


def _message_sent_at(raw: bytes | str) -> float | None:
    try:
        message = json.loads(raw)
        return float(message["headers"][SENT_AT_HEADER])
    except (ValueError, KeyError, TypeError):
        return None


def _file_sent_at(path: Path) -> float:
    try:
        sent = _message_sent_at(path.read_bytes())
        return sent if sent is not None else path.stat().st_mtime
    except OSError:  # consumed meanwhile
        return time.time()


def _workers() -> Iterator[Metric]:
    """Celery workers that answered a broadcast ping within PING_TIMEOUT_SECONDS (their remote-control
    heartbeat), and the training runs' own heartbeats (a GPU worker busy in an epoch answers pings late)."""
    from annotate.celery import app

    up = GaugeMetricFamily("annotate_celery_worker_up", "1 for each worker that answered the ping.", labels=["worker"])
    count = GaugeMetricFamily("annotate_celery_workers", "Workers that answered the ping.")
    try:
        replies = app.control.ping(timeout=PING_TIMEOUT_SECONDS) or []
    except Exception:
        replies = []
    names = sorted(name for reply in replies for name in reply)
    for name in names:
        up.add_metric([name], 1)
    count.add_metric([], len(names))
    yield count
    yield up


def _training_runs() -> Iterator[Metric]:
    from training.models import TrainingRun

    states = GaugeMetricFamily("annotate_training_runs", "Training runs by status.", labels=["status"])
    counts = dict(TrainingRun.objects.order_by().values_list("status").annotate(n=Count("id")))
    for status in TrainingRun.Status.values:
        states.add_metric([status], counts.get(status, 0))
    yield states
    heartbeat = GaugeMetricFamily(
        "annotate_training_heartbeat_age_seconds",
        "Seconds since a running training run's worker last renewed its lease.",
        labels=["run"],
    )
    now = timezone.now()
    running = TrainingRun.objects.filter(status=TrainingRun.Status.RUNNING).values_list("id", "heartbeat_at")
    for run_id, beat in running:
        heartbeat.add_metric([str(run_id)], (now - beat).total_seconds() if beat else float("nan"))
    yield heartbeat
