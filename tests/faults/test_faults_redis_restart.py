"""Redis restarted while a real Celery worker is consuming: no queued task is lost.

A private redis-server (RDB off, AOF on) is the broker of this test's producer and worker. Probe tasks are
queued, Redis is shut down (SHUTDOWN NOSAVE, as `systemctl stop` does with `save ""`) while messages are
still queued and one is in flight (in kombu's `unacked` hash: acks_late), then started again from its AOF.
The same worker process reconnects by itself; every probe row must arrive, except at most the one message
kombu was handing over at the instant of the shutdown (see the assertion). A second test shows why the
AOF is needed: without persistence a restart empties the queue.
"""

from __future__ import annotations

import base64
import json
import time
import uuid

import pytest

from annotate.models import TaskProbe
from annotate.tasks import probe
from tests.faults.faults_redis import RedisServer, producer_on
from tests.helpers.workers import WorkerProcess

pytestmark = [pytest.mark.worker, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

BEFORE, AFTER = 150, 30


def _wait_rows(tokens: list[str], timeout: float, worker: WorkerProcess) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = TaskProbe.objects.filter(token__in=tokens).count()
        if found == len(tokens):
            return found
        time.sleep(0.2)
    return TaskProbe.objects.filter(token__in=tokens).count()


def _unacked_tokens(broker: RedisServer) -> list[str]:
    """The probe tokens of the messages in kombu's `unacked` hash (delivered, not yet acknowledged)."""
    tokens = []
    for raw in broker.client().hvals(broker.key("unacked")):
        payload, _exchange, _routing_key = json.loads(raw)
        args, _kwargs, _embed = json.loads(base64.b64decode(payload["body"]))
        tokens.append(args[0])
    return tokens


def test_redis_restart_mid_work_loses_no_task(tmp_path, settings):
    broker = RedisServer(tmp_path / "redis-aof", appendonly=True).start()
    worker = None
    try:
        with producer_on(broker.url, settings):
            worker = WorkerProcess(queues="default", concurrency=1, env_extra={"CELERY_BROKER_URL": broker.url})
            worker.start().wait_ready()
            first = [f"before-{uuid.uuid4().hex}" for _ in range(BEFORE)]
            for token in first:
                probe.delay(token)
            # Mid-way: some done, many still queued, one in flight.
            deadline = time.monotonic() + 60
            while TaskProbe.objects.filter(token__in=first).count() < BEFORE // 5:
                assert time.monotonic() < deadline, worker.log()
                time.sleep(0.05)
            client = broker.client()
            queued_before = client.llen(broker.key("default"))
            broker.restart()
            queued_after = broker.client().llen(broker.key("default"))
            in_flight_after = broker.client().hlen(broker.key("unacked"))

            second = [f"after-{uuid.uuid4().hex}" for _ in range(AFTER)]
            for token in second:
                probe.delay(token)  # the producer's pooled connection died with Redis: it must reconnect
            done = _wait_rows(first + second, timeout=90, worker=worker)
            time.sleep(1)
            left_queued = broker.client().llen(broker.key("default"))
            left_unacked = _unacked_tokens(broker)
            log = worker.log_path.read_text(errors="replace")
            alive = worker.proc.poll() is None
    finally:
        if worker is not None:
            worker.stop()
        broker.stop()

    assert queued_before >= BEFORE // 4, "the restart came too late to prove anything"
    assert queued_after >= 1 and queued_after + in_flight_after >= queued_before - 2, (queued_before, queued_after)
    assert alive, "the worker died instead of reconnecting"
    # kombu's Redis transport pops a message (BRPOP) and only then records it in `unacked` (a second command):
    # a shutdown that lands between the two loses that one message, the one being handed to the worker at that
    # instant (seen about once in twenty runs; no Redis transport setting closes it). That is the transport's
    # bound, at most one per consumer per restart; anything queued, in flight, or sent afterwards must arrive.
    lost = set(first + second) - set(TaskProbe.objects.filter(token__in=first + second).values_list("token", flat=True))
    assert len(lost) <= 1 and lost <= set(first), f"{len(lost)} probe tasks lost ({lost})\n{log[-4000:]}"
    assert done >= BEFORE + AFTER - 1
    assert "Connection to broker lost" in log, "the worker never noticed the restart"  # the same process reconnected
    # The message in flight at the restart ran, but its ack went to the dead connection: it stays in the
    # `unacked` hash and would run once more after the visibility timeout (tasks are idempotent). Anything
    # left there must be a task that already ran, never one that was dropped.
    assert left_queued == 0
    assert set(left_unacked) <= set(TaskProbe.objects.filter(token__in=left_unacked).values_list("token", flat=True))


def test_without_aof_a_redis_restart_empties_the_queue(tmp_path, settings):
    """The negative control: `--save "" --appendonly no` (a pure cache) loses every queued task."""
    broker = RedisServer(tmp_path / "redis-volatile", appendonly=False).start()
    try:
        with producer_on(broker.url, settings):
            for _ in range(20):
                probe.delay(uuid.uuid4().hex)
            assert broker.client().llen(broker.key("default")) == 20
            broker.restart()
            assert broker.client().llen(broker.key("default")) == 0
    finally:
        broker.stop()
