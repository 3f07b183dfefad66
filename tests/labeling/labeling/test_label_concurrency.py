"""Concurrency on PostgreSQL: 32 volunteers in threads request and submit against 500 items needing 3 votes.

Every item ends with exactly 3 answers from 3 different users, and no item was ever leased to more users than
it needed (each lease granted once: the threads answer all they get, in one batch, before asking again).
500 items keep all 32 threads contending for the same queue head over several batches each (1,500 leases, ~4
grids of 12 per volunteer); 2,000 items only made the run four times longer, not the race any different.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter

import pytest
from django.db import connection

from labeling.models import Annotation, Item, Lease
from labeling.services.annotations import annotations_submit_batch
from labeling.services.assignment import next_items
from tests.helpers.factories import make_project_with_items
from tests.helpers.services import require_postgres

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

THREADS = 32
ITEMS = 500
VOTES = 3


def test_32_volunteers_500_items_exactly_three_distinct_answers_each(make_user, settings):
    require_postgres()
    # No re-aggregation is enqueued: the session's Celery worker (started by an earlier test of this process) would
    # still be writing this project's rows when the test's teardown truncates the tables (a deadlock in CI).
    settings.ANNOTATE = {**settings.ANNOTATE, "QUALITY_REAGGREGATE_EVERY": 0}
    project, _ = make_project_with_items(slug="crowd", n_items=ITEMS, categories=("owl", "cat"), needed_votes=VOTES)
    users = [make_user(f"t{i}") for i in range(THREADS)]
    grants: list[tuple[int, int]] = []
    errors: list[BaseException] = []
    lock = threading.Lock()
    deadline = time.monotonic() + 500

    def volunteer(user) -> None:
        try:
            idle = 0
            while time.monotonic() < deadline:
                batch = next_items(user=user, project=project, n=12)
                if not batch:
                    if not Item.objects.filter(project=project, status=Item.Status.OPEN).exists():
                        return
                    idle += 1
                    if idle > 200:
                        return
                    time.sleep(0.05)
                    continue
                idle = 0
                with lock:
                    grants.extend((user.id, item.id) for item in batch)
                # The grid is posted at once, as the labeling page does (the single-answer path is the same
                # service with N = 1).
                results = annotations_submit_batch(
                    user=user,
                    project=project,
                    answers=[{"item_id": i.id, "submission_id": uuid.uuid4(), "answer": {"label": 1}} for i in batch],
                )
                refused = [r for r in results if not r["ok"]]
                assert not refused, refused[:3]
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=volunteer, args=(u,)) for u in users]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[:3]

    assert len(grants) == len(set(grants)), "a lease was granted twice to the same user"
    per_item = Counter(item_id for _, item_id in grants)
    assert set(per_item.values()) == {VOTES}, "an item was leased to more (or fewer) users than it needed"
    assert len(per_item) == ITEMS

    answers = Counter(Annotation.objects.filter(item__project=project).values_list("item_id", flat=True))
    assert len(answers) == ITEMS and set(answers.values()) == {VOTES}
    distinct = Annotation.objects.filter(item__project=project).values_list("item_id", "user_id").distinct().count()
    assert distinct == ITEMS * VOTES
    assert set(Item.objects.filter(project=project).values_list("votes_count", flat=True)) == {VOTES}
    assert not Item.objects.filter(project=project, status=Item.Status.OPEN).exists()
    assert Lease.objects.filter(item__project=project).count() == 0
    assert len({u for u, _ in grants}) > 1
