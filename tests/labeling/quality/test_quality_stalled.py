"""Stalled and disputed items are routed to review with a reason, and counted per category."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from labeling.models import Annotation, Item
from labeling.selectors.quality import progress_by_category
from labeling.selectors.review import review_items
from labeling.services.assignment import next_items
from labeling.services.quality import annotator_block
from labeling.services.quality.stalled import items_route_stalled, projects_route_stalled
from tests.labeling.quality.qfactories import cast, make_project

pytestmark = pytest.mark.django_db


def _age(items, hours: float) -> None:
    Annotation.objects.filter(item__in=items).update(created_at=timezone.now() - timedelta(hours=hours))


def test_split_item_with_every_annotator_answered_goes_to_review_and_back(make_user):
    # max votes 7 and three volunteers: a split item can never finish. It goes to review in the vote's own
    # transaction (issue 22, finding 14: it used to wait for this sweep).
    project, items = make_project(slug="stall3", n_items=3, min_votes=3, max_votes=7, target=0.95)
    a, b, c = make_user("a"), make_user("b"), make_user("c")
    for voter, label in ((a, 1), (b, 0), (c, 1)):
        cast(voter, items[0], label)
    cast(a, items[1], 1)  # b and c have not seen it
    first = Item.objects.get(pk=items[0].pk)
    assert first.status == Item.Status.REVIEW and first.review_reason == Item.ReviewReason.NO_ANNOTATOR
    assert Item.objects.get(pk=items[1].pk).status == Item.Status.OPEN  # b and c may still answer it
    queue = review_items(project=project)
    assert [(i.pk, i.reason) for i in queue] == [(items[0].pk, "no eligible annotator left")]
    _age(items[:2], hours=1)
    assert items_route_stalled(project=project).no_annotator == []  # nothing left for the sweep

    # a newcomer who has not seen it can answer: back to open when they first ask for work; blocked annotators
    # do not count as eligible, so once they are blocked the sweep sends it back to review
    newcomer = make_user("d")
    next_items(user=newcomer, project=project, n=1)
    assert Item.objects.get(pk=items[0].pk).status == Item.Status.OPEN
    cast(newcomer, items[2], 1)
    annotator_block(project=project, user=newcomer, by=None, reason="test")
    assert items_route_stalled(project=project).no_annotator == [items[0].pk]
    next_items(user=make_user("e"), project=project, n=1)
    assert Item.objects.get(pk=items[0].pk).status == Item.Status.OPEN
    assert items_route_stalled(project=project).reopened == []  # the newcomer's request reopened it already


def test_item_waiting_longer_than_stall_hours_goes_to_review(make_user):
    project, items = make_project(slug="stallh", n_items=3, min_votes=3, max_votes=7, target=0.95)
    project.stall_hours = 2
    project.save(update_fields=["stall_hours"])
    users = [make_user(f"u{i}") for i in range(2)]
    cast(users[0], items[0], 1)
    cast(users[0], items[1], 1)
    cast(users[1], items[2], 1)  # u1 is active and has not seen items 0 and 1: they are waiting, not orphaned
    _age([items[0]], hours=3)
    _age(items[1:], hours=1)
    routed = projects_route_stalled()[project.pk]
    assert routed.stalled == [items[0].pk] and routed.no_annotator == []
    item = Item.objects.get(pk=items[0].pk)
    assert item.status == Item.Status.REVIEW and item.review_reason == Item.ReviewReason.STALLED
    assert Item.objects.get(pk=items[1].pk).status == Item.Status.OPEN
    project.stall_hours = 0  # 0 = never
    project.save(update_fields=["stall_hours"])
    _age([items[1]], hours=100)
    assert items_route_stalled(project=project).stalled == []


def test_max_votes_reason_and_progress_counts(make_user, client, api_client):
    project, items = make_project(slug="prog", n_items=5, min_votes=2, max_votes=2, target=0.95)
    reviewer = make_user("rv", role="reviewer")
    project.reviewers.add(reviewer)
    a, b = make_user("a"), make_user("b")
    cast(a, items[0], 1)
    cast(b, items[0], 0)  # split at max votes -> review
    cast(a, items[1], 1)  # needs more
    Item.objects.filter(pk=items[2].pk).update(status=Item.Status.DONE)
    item = Item.objects.get(pk=items[0].pk)
    assert item.status == Item.Status.REVIEW and item.review_reason == Item.ReviewReason.MAX_VOTES

    rows = progress_by_category(project=project)
    assert [(r.name, r.open, r.needs_more, r.in_review, r.done, r.rejected) for r in rows] == [
        ("bird", 2, 1, 1, 1, 0),
        ("all", 2, 1, 1, 1, 0),
    ]
    api_client.force_authenticate(reviewer)
    progress = api_client.get(f"/api/projects/{project.slug}/quality/").json()["progress"]
    assert progress[-1] == {"key": None, "name": "all", "open": 2, "needs_more": 1, "in_review": 1, "done": 1,
                            "rejected": 0, "total": 5}  # fmt: skip
    client.force_login(reviewer)
    for url in (f"/projects/{project.slug}/", f"/projects/{project.slug}/quality/"):
        page = client.get(url).content.decode()
        assert 'data-testid="progress-table"' in page and '<th scope="row">bird</th>' in page
