"""A volunteer's own accuracy on known answers, per project, on their profile: answers up to the last whole
block of their answers (a count
that moved right after an answer would say which item was gold), with the Wilson interval, and never the word
"gold" on the page."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from labeling.models import Annotation, Lease
from labeling.selectors.labeling import GOLD_FEEDBACK_BLOCK, volunteer_gold_accuracy
from labeling.services.annotations import annotation_submit
from tests.helpers.factories import make_project_with_items

pytestmark = pytest.mark.django_db


def _answer(user, project, item, label: int) -> Annotation:
    Lease.objects.create(item=item, user=user, expires_at=timezone.now() + timedelta(minutes=5))
    return annotation_submit(
        user=user, project=project, item_id=item.pk, submission_id=uuid.uuid4(), answer={"label": label}
    )


def test_profile_accuracy_includes_today_by_whole_blocks_of_answers(make_user, client, django_assert_max_num_queries):
    """Issue 22 (6): the accuracy moves on the day a volunteer labels, but only after every GOLD_FEEDBACK_BLOCK
    answers in the project, so no single answer's effect is visible (gold stays secret)."""
    block = GOLD_FEEDBACK_BLOCK
    project, items = make_project_with_items(slug="acc", n_items=block * 2, gold=5, categories=("owl",), needed_votes=5)
    user = make_user("v")
    gold = [i for i in items if i.is_gold]
    regular = [i for i in items if not i.is_gold]
    for item, label in zip(gold[:4], (1, 1, 1, 0), strict=True):  # today, in the first block
        _answer(user, project, item, label)
    for item in regular[: block - 4]:
        _answer(user, project, item, 1)
    _answer(user, project, gold[4], 1)  # the next block has begun: not counted yet
    _answer(user, project, regular[block - 4], 1)
    with django_assert_max_num_queries(3):
        (row,) = volunteer_gold_accuracy(user=user)
    assert (row.project_slug, row.answers, row.correct, row.accuracy) == ("acc", 4, 3, 0.75)
    assert 0.2 < row.low < 0.75 < row.high < 1.0
    assert volunteer_gold_accuracy(user=make_user("other")) == []
    client.force_login(user)
    html = client.get("/profile/").content.decode()
    assert 'data-testid="known-answer-accuracy"' in html
    assert "<td>4</td><td>3</td>" in html and "75 %" in html
    assert "gold" not in html.lower()


def test_profile_without_measured_answers_says_so(make_user, client):
    client.force_login(make_user("fresh"))
    html = client.get("/profile/").content.decode()
    assert 'data-testid="known-answer-accuracy-empty"' in html and "gold" not in html.lower()
