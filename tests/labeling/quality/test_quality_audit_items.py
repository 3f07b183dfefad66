"""Audit items (ImageNet's initial subset per synset) collect max votes; calibration checks early stops on them."""

from __future__ import annotations

import random

import pytest

from labeling.models import CategoryCalibration, Item, ProjectQualitySnapshot
from labeling.services.quality import project_reaggregate
from labeling.services.quality.engine import PROJECT_KEY, is_audit_item
from tests.labeling.quality.qfactories import cast, make_project

pytestmark = pytest.mark.django_db


def test_audit_share_is_stable_and_close_to_the_rate():
    chosen = [i for i in range(1, 20001) if is_audit_item(i, 0.05)]
    assert 0.045 < len(chosen) / 20000 < 0.055
    assert chosen == [i for i in range(1, 20001) if is_audit_item(i, 0.05)]
    assert not any(is_audit_item(i, 0.0) for i in range(1, 1000))


def test_audit_items_wait_for_max_votes_and_calibrate_the_target(make_user):
    project, items = make_project(slug="audit", n_items=40, min_votes=2, max_votes=5, target=0.8, audit_rate=0.5)
    voters = [make_user(f"v{i}") for i in range(5)]
    rng = random.Random(7)
    truth = {item.pk: rng.randrange(2) for item in items}
    audit = {item.pk for item in items if is_audit_item(item.pk, 0.5)}
    assert 10 <= len(audit) <= 30
    for item in items:  # two agreeing votes (0.84 at the prior 0.7 accuracy): 0.8 is reached except on audit items
        for voter in voters[:2]:
            cast(voter, item, truth[item.pk])
    rows = {i.pk: i for i in Item.objects.filter(project=project)}
    for pk, row in rows.items():
        if pk in audit:
            assert row.status == Item.Status.OPEN and row.needed_votes == 5, row
        else:
            assert row.status == Item.Status.DONE and row.votes_count == 2
    # the audit items get their last three votes: one voter is wrong on a third of them
    for item in items:
        if item.pk in audit:
            for n, voter in enumerate(voters[2:]):
                wrong = n == 0 and item.pk % 3 == 0
                cast(voter, item, 1 - truth[item.pk] if wrong else truth[item.pk])
    assert all(Item.objects.get(pk=pk).status == Item.Status.DONE for pk in audit)
    project_reaggregate(project_id=project.pk)
    calibration = CategoryCalibration.objects.get(project=project, category=items[0].category)
    # every audit item at max votes is a checked item (its five-vote consensus is the reference) ...
    assert calibration.vote_table[0]["checked"] == len(audit) and calibration.vote_table[-1]["votes"] == 5
    # ... and each stopped at two agreeing votes, which the reference confirms
    assert calibration.n_checked == len(audit) == calibration.n_correct
    snap = ProjectQualitySnapshot.objects.get(project=project)
    assert (PROJECT_KEY in snap.targets) == (len(audit) >= 30)  # no correction claimed on < 30 stopping events
