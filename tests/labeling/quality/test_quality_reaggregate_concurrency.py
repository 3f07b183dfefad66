"""A full re-aggregation racing a vote on PostgreSQL: no deadlock, and the vote's outcome is not overwritten."""

from __future__ import annotations

import threading
import time
import uuid

import pytest
from django.db import connection, transaction

from labeling.models import Item
from labeling.services.annotations import annotation_submit
from labeling.services.assignment import next_items
from labeling.services.quality import project_reaggregate
from tests.helpers.factories import make_project_with_items
from tests.helpers.services import require_postgres

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_reaggregation_waits_for_a_vote_in_flight_and_keeps_its_result(make_user):
    """The re-aggregation reads while a third vote on the item is uncommitted, then has to write that item.

    It used to lock the project FOR UPDATE, which the vote's foreign-key checks at commit (a new annotator's
    score row references the project) then waited on while it waited on the vote's item: a deadlock. And
    without the item rows locked it could write the stale "2 votes, open" back over the vote's "3, done"."""
    require_postgres()
    project, items = make_project_with_items(slug="race", n_items=1, categories=("owl",), needed_votes=3)
    item = items[0]
    voters = [make_user(f"v{i}") for i in range(3)]
    for user in voters:
        assert [i.pk for i in next_items(user=user, project=project, n=1)] == [item.pk]
    for user in voters[:2]:
        annotation_submit(user=user, project=project, item_id=item.pk, submission_id=uuid.uuid4(), answer={"label": 1})

    locked, errors, results = threading.Event(), [], {}

    def vote() -> None:
        try:
            with transaction.atomic():
                Item.objects.select_for_update().get(pk=item.pk)
                locked.set()
                time.sleep(1.5)  # the re-aggregation has read the old state and now waits for this row
                annotation_submit(
                    user=voters[2], project=project, item_id=item.pk, submission_id=uuid.uuid4(), answer={"label": 1}
                )
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    def reaggregate() -> None:
        try:
            locked.wait(10)
            results["r"] = project_reaggregate(project_id=project.pk)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=vote), threading.Thread(target=reaggregate)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    assert results["r"] is not None and results["r"].votes == 2  # it read before the third vote committed
    row = Item.objects.get(pk=item.pk)
    assert row.votes_count == 3 and row.status in (Item.Status.DONE, Item.Status.REVIEW)
    assert results["r"].items_written == 0  # the item changed under it: the online decision stands
