"""Adaptive redundancy on a simulated crowd: easy items stop early, hard ones late, through the real services."""

from __future__ import annotations

import random
import uuid

import numpy as np
import pytest

from labeling.models import Item
from labeling.services.annotations import annotation_submit
from labeling.services.assignment import next_items
from tests.labeling.quality.qfactories import make_project

pytestmark = pytest.mark.django_db


def test_adaptive_stops_early_on_easy_and_late_on_hard_items(make_user):
    project, items = make_project(slug="adapt", n_items=20, min_votes=2, max_votes=9, target=0.95)
    rng = random.Random(7)
    truth = {item.pk: rng.randrange(2) for item in items}
    hard = {item.pk for item in items[10:]}
    workers = [make_user(f"sim{i}") for i in range(12)]
    for _round in range(12):
        for user in workers:
            for item in next_items(user=user, project=project, n=20):
                accuracy = 0.62 if item.pk in hard else 0.97
                label = truth[item.pk] if rng.random() < accuracy else 1 - truth[item.pk]
                annotation_submit(
                    user=user, project=project, item_id=item.pk, submission_id=uuid.uuid4(), answer={"label": label}
                )
    rows = {i.pk: i for i in Item.objects.filter(project=project)}
    easy_votes = [rows[i.pk].votes_count for i in items[:10]]
    hard_votes = [rows[i.pk].votes_count for i in items[10:]]
    # Easy: two agreeing votes from unknown (prior 0.7) annotators give 0.84; the third or fourth settles it.
    assert max(easy_votes) <= 5, easy_votes
    assert np.mean(hard_votes) > np.mean(easy_votes) + 1.5, (easy_votes, hard_votes)
    assert all(rows[i.pk].status in (Item.Status.DONE, Item.Status.REVIEW) for i in items)
    # Every done item reached the target, every review item hit max votes without it.
    for item in rows.values():
        if item.status == Item.Status.DONE:
            assert item.confidence >= 0.95 and item.votes_count >= 2
        else:
            assert item.votes_count == 9 and item.confidence < 0.95
    done_easy = [rows[i.pk] for i in items[:10]]
    assert sum(i.label == truth[i.pk] for i in done_easy) >= 9
