"""Audit items (ImageNet's initial subset per synset) collect max votes; calibration checks early stops on them."""

from __future__ import annotations

import random

import pytest

from labeling.models import Annotation, CategoryCalibration, Item, ProjectQualitySnapshot
from labeling.services.quality import gold_set, project_reaggregate
from labeling.services.quality.engine import PROJECT_KEY, annotator_models, is_audit_item
from tests.labeling.quality.qfactories import cast, join, make_project

pytestmark = pytest.mark.django_db


def test_audit_share_is_stable_and_close_to_the_rate():
    chosen = [i for i in range(1, 20001) if is_audit_item(i, 0.05)]
    assert 0.045 < len(chosen) / 20000 < 0.055
    assert chosen == [i for i in range(1, 20001) if is_audit_item(i, 0.05)]
    assert not any(is_audit_item(i, 0.0) for i in range(1, 1000))


def test_audit_items_wait_for_max_votes_and_calibrate_the_target(make_user):
    project, items = make_project(slug="audit", n_items=40, min_votes=2, max_votes=5, target=0.8, audit_rate=0.5)
    voters = [make_user(f"v{i}") for i in range(5)]
    join(project, voters)  # all five are known from the start (else an item two of them answered would wait in review)
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
    # the audit items get their last three votes: one voter is wrong on every fourth of them (spread evenly by
    # the audit items' order, not by their ids: an id-based choice could bunch the errors and, at 6 of the first
    # 12 wrong, rightly get the voter blocked by the online agreement rule)
    for k, item in enumerate(item for item in items if item.pk in audit):
        for n, voter in enumerate(voters[2:]):
            wrong = n == 0 and k % 4 == 3
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


def test_correlated_errors_raise_the_threshold(make_user):
    """On a fifth of the gold items the first two annotators agree on the wrong answer (a hard item fools them
    both): stopping at two agreeing votes is wrong 20 % of the time, so calibration raises the threshold until the
    replayed stops are right at least 90 % of the time."""
    project, items = make_project(slug="corr", n_items=40, min_votes=2, max_votes=6, target=0.9)
    voters = [make_user(f"c{i}") for i in range(4)]
    truth = {item.pk: n % 2 for n, item in enumerate(items)}
    for n, item in enumerate(items):
        fooled = n % 5 == 0
        for v, voter in enumerate(voters):
            label = 1 - truth[item.pk] if (fooled and v < 2) else truth[item.pk]
            Annotation.objects.create(item=item, user=voter, label=label, answer={"label": label}, time_spent_ms=2000)
        Item.objects.filter(pk=item.pk).update(votes_count=4)
        gold_set(item=item, label=truth[item.pk])
    project_reaggregate(project_id=project.pk)
    calibration = CategoryCalibration.objects.get(project=project, category=items[0].category)
    assert calibration.vote_table[1]["accuracy"] < 0.85  # two votes: the fooled items are wrong
    assert calibration.target > 0.9
    # at the calibrated threshold two agreeing votes no longer stop an item
    models = annotator_models(project, [0, 1])
    two = models.posterior([voters[0].pk, voters[1].pk], [1, 1])
    assert two.max() < calibration.target
