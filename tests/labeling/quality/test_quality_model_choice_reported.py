"""The re-aggregation records which model the default chose for the crowd and why (issue 23), and the quality page
shows it."""

from __future__ import annotations

import random

import pytest

from labeling.models import Annotation, Item, ProjectQualitySnapshot
from labeling.services.quality import project_reaggregate
from tests.labeling.quality.qfactories import make_project

pytestmark = pytest.mark.django_db


def test_snapshot_and_quality_page_report_the_chosen_model(make_user, client):
    project, items = make_project(slug="choice", n_items=40, min_votes=5, max_votes=9, target=0.99)
    rng = random.Random(11)
    users = [make_user(f"c{i}") for i in range(5)]
    rows = []
    for item in items:
        truth = rng.randrange(2)
        for user, acc in zip(users, (0.95, 0.9, 0.85, 0.8, 0.6), strict=True):
            label = truth if rng.random() < acc else 1 - truth
            rows.append(Annotation(item=item, user=user, label=label, answer={"label": label}, time_spent_ms=2000))
    Annotation.objects.bulk_create(rows)
    Item.objects.filter(project=project).update(votes_count=5)
    assert project_reaggregate(project_id=project.pk) is not None
    snap = ProjectQualitySnapshot.objects.get(project=project)
    assert snap.model in {"mv", "one_coin", "pooled", "mace", "ds"} and snap.model_reason
    assert snap.model_evidence["held_out_votes"] == 200 and set(snap.model_evidence["kappa"]) >= {"mv", "ds"}
    owner = make_user("own", role="researcher")
    project.owners.add(owner)
    client.force_login(owner)
    html = client.get(f"/projects/{project.slug}/quality/").content.decode()
    assert 'data-testid="quality-model"' in html and snap.model_reason[:40] in html
