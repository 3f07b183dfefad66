"""A worker SIGKILLed in the middle of a collection: the beat's resume re-enqueues the run, a new worker finishes it
from where it stopped (queries already searched are not searched again), and every candidate lands once."""

from __future__ import annotations

import time

import pytest

from labeling.models import CollectionCandidate, CollectionQuery, CollectionRun, Item
from labeling.services.collection.run import (
    collection_plan,
    collection_resume_stale,
    collection_run_create,
    collection_start,
)
from tests.helpers.search_server import search_server_start
from tests.helpers.services import require_broker, require_postgres
from tests.labeling.collection.conftest import build_world

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def _wait(predicate, seconds, what):
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, what
        time.sleep(0.3)


def test_killed_worker_run_is_resumed_and_finishes_once(project):
    require_postgres()
    require_broker()
    from tests.helpers.workers import WorkerProcess, other_workers_stopped, purge_queues

    world = build_world(collection_plan(project=project), ["openverse", "commons"])
    world.delay = 0.3
    server = search_server_start(world)
    env = {"ANNOTATE_FETCH_ALLOW_LOOPBACK_FOR_TESTS": "true", "ANNOTATE_COLLECT_OPENVERSE_URL": server.url,
           "ANNOTATE_COLLECT_COMMONS_URL": server.url, "ANNOTATE_COLLECT_PAGE_SIZE": "3"}  # fmt: skip
    try:
        with other_workers_stopped():
            purge_queues()
            run = collection_run_create(project=project, sources=["openverse", "commons"], per_category=40)
            first = WorkerProcess(queues="default,ingest", env_extra=env).start()
            try:
                first.wait_ready()
                collection_start(run=run)  # outside a transaction: sent at once
                _wait(lambda: CollectionRun.objects.get(pk=run.pk).queries_done >= 4, 120, "the search never started")
            finally:
                first.kill()
            # The slow engine was there to catch the first worker mid-run; the resumed run needs no such pace.
            world.delay = 0.0
            run.refresh_from_db()
            assert run.status == CollectionRun.Status.SEARCHING and run.queries_done < run.queries_total
            searched_before = {
                (q.source, q.text) for q in CollectionQuery.objects.filter(run=run).exclude(status="pending")
            }
            purge_queues()  # the killed task's message would come back only after the visibility timeout
            second = WorkerProcess(queues="default,ingest", env_extra=env).start()
            try:
                second.wait_ready()
                assert collection_resume_stale() == [run.pk]  # what the beat does every 5 minutes
                _wait(lambda: CollectionRun.objects.get(pk=run.pk).status in ("done", "failed"), 240, "not resumed")
            finally:
                second.stop()
    finally:
        server.stop()
    run.refresh_from_db()
    assert run.status == CollectionRun.Status.DONE, run.error
    # Queries searched before the kill were not searched again: one search is at most 3 requests (Openverse: the
    # 429, then 2 pages of 3; Commons: 2 pages), a repeated one would be 6.
    assert searched_before and all(world.requests[key] <= 3 for key in searched_before)
    candidates = CollectionCandidate.objects.filter(query__run=run)
    assert not candidates.filter(outcome=CollectionCandidate.Outcome.PENDING).exists()
    kept = candidates.filter(outcome=CollectionCandidate.Outcome.INGESTED).count()
    assert kept == Item.objects.filter(project=project).count() > 0
