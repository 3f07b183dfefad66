"""Blocking is retroactive: exactly the items whose posterior falls below target go back to the queue."""

from __future__ import annotations

import pytest

from labeling.models import AnnotatorScore, AnnotatorStatusChange, Item
from labeling.services.assignment import next_items
from labeling.services.quality import annotator_block, annotator_may_label, annotator_unblock
from tests.labeling.quality.qfactories import cast, make_project

pytestmark = pytest.mark.django_db


def test_block_reopens_exactly_the_items_below_target_and_logs(make_user):
    # No snapshot yet: every annotator counts with the prior accuracy 0.7, so 3 agreeing votes give 0.927 and
    # 2 give 0.845 against a target of 0.9.
    project, items = make_project(slug="spam", n_items=12, min_votes=2, max_votes=7, target=0.9)
    reviewer = make_user("rev", role="reviewer")
    good = [make_user(f"good{i}") for i in range(3)]
    spammer = make_user("spammer")
    fragile, robust, untouched = items[:4], items[4:8], items[8:]
    for item in fragile:
        for user in (good[0], good[1], spammer):
            cast(user, item, 1)
    for item in robust:
        for user in (good[0], good[1], good[2], spammer):
            cast(user, item, 1)
    for item in untouched:
        for user in good:
            cast(user, item, 0)
    assert set(Item.objects.filter(project=project).values_list("status", flat=True)) == {Item.Status.DONE}

    score, reopened = annotator_block(project=project, user=spammer, by=reviewer, reason="answers without looking")

    assert sorted(reopened) == sorted(i.pk for i in fragile)
    rows = {i.pk: i for i in Item.objects.filter(project=project)}
    for item in fragile:
        row = rows[item.pk]
        assert row.status == Item.Status.OPEN
        assert row.votes_count == 2 and row.needed_votes > row.votes_count
        assert row.confidence < 0.9 and row.priority > 0
    for item in robust:
        assert rows[item.pk].status == Item.Status.DONE and rows[item.pk].votes_count == 3
    for item in untouched:
        assert rows[item.pk].status == Item.Status.DONE and rows[item.pk].votes_count == 3
    log = AnnotatorStatusChange.objects.get(project=project, user=spammer)
    assert (log.from_status, log.to_status, log.by) == ("new", "blocked", reviewer)
    assert log.reason == "answers without looking"
    assert score.status == AnnotatorScore.Status.BLOCKED and score.status_locked
    assert not annotator_may_label(user=spammer, project=project)
    assert next_items(user=spammer, project=project, n=12) == []
    # The reopened items are served again to someone who has not answered them.
    fresh = make_user("fresh")
    served = {i.pk for i in next_items(user=fresh, project=project, n=12)}
    assert {i.pk for i in fragile} <= served

    # An admin override restores the votes: the fragile items are done again, and that is logged too.
    admin = make_user("boss", role="admin")
    annotator_unblock(project=project, user=spammer, by=admin, reason="false alarm")
    assert set(Item.objects.filter(pk__in=[i.pk for i in fragile]).values_list("status", flat=True)) == {"done"}
    assert AnnotatorStatusChange.objects.filter(project=project, user=spammer, to_status="active", by=admin).exists()
