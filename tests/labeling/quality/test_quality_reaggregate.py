"""Full re-aggregation on a simulated crowd with known confusion matrices, through the stored votes."""

from __future__ import annotations

import random

import numpy as np
import pytest
from scipy.stats import spearmanr

from labeling.models import (
    Annotation,
    AnnotatorScore,
    AnnotatorStatusChange,
    CategoryCalibration,
    Item,
    ProjectQualitySnapshot,
)
from labeling.services.quality import gold_set, project_reaggregate
from tests.labeling.quality.qfactories import make_project

pytestmark = pytest.mark.django_db

ACCURACY = [0.92, 0.9, 0.88, 0.85, 0.6, 0.55, 0.2]  # the last one answers the opposite most of the time


def _simulate(make_user, n_items=60, votes_per_item=5, seed=3):
    project, items = make_project(slug="sim", n_items=n_items, min_votes=7, max_votes=9, target=0.99)
    rng = random.Random(seed)
    truth = {item.pk: rng.randrange(2) for item in items}
    users = [make_user(f"acc{i}") for i in range(len(ACCURACY))]
    rows = []
    for item in items:  # stored votes, as annotation_submit would leave them (bulk: this test is about the batch path)
        for idx in rng.sample(range(len(users)), votes_per_item):
            label = truth[item.pk] if rng.random() < ACCURACY[idx] else 1 - truth[item.pk]
            vote = Annotation(item=item, user=users[idx], label=label, answer={"label": label}, time_spent_ms=2000)
            rows.append(vote)
    Annotation.objects.bulk_create(rows)
    Item.objects.filter(project=project).update(votes_count=votes_per_item)
    return project, items, truth, users


def test_reaggregate_recovers_workers_and_beats_majority(make_user):
    project, items, truth, users = _simulate(make_user)
    mv = {}
    for item in items:
        labels = list(item.annotations.values_list("label", flat=True))
        mv[item.pk] = int(np.mean(labels) > 0.5)
    result = project_reaggregate(project_id=project.pk)
    assert result is not None and result.items == 60 and result.votes == 300
    rows = {i.pk: i for i in Item.objects.filter(project=project)}
    ds_right = sum(rows[pk].label == t for pk, t in truth.items())
    mv_right = sum(mv[pk] == t for pk, t in truth.items())
    assert ds_right >= mv_right and ds_right >= 56, (ds_right, mv_right)
    for row in rows.values():
        assert abs(sum(row.posterior.values()) - 1) < 1e-4 and row.confidence == max(row.posterior.values())
    scores = {s.user_id: s for s in AnnotatorScore.objects.filter(project=project)}
    estimated = np.array([scores[u.pk].ds_accuracy for u in users])
    assert np.abs(estimated[:4] - np.array(ACCURACY[:4])).max() < 0.12, estimated
    # the adversary is recognised (its confusion matrix is flipped): clearly below chance and ranked last; with
    # ~40 votes the pooled prior still holds it a little toward the crowd
    assert estimated[-1] < 0.45 and estimated.argmin() == len(ACCURACY) - 1
    assert all(scores[u.pk].volume > 0 and scores[u.pk].median_time_ms == 2000 for u in users)
    # honest scores: ranks follow true skill, and each interval holds its estimate
    assert spearmanr(estimated, ACCURACY).statistic >= 0.8
    for u in users:
        s = scores[u.pk]
        assert s.ds_accuracy_low <= s.ds_accuracy <= s.ds_accuracy_high and 0 < s.evidence <= s.volume
    snap = ProjectQualitySnapshot.objects.get(project=project)
    assert snap.classes == [0, 1] and len(snap.workers) == len(users) and snap.votes_seen == 300
    # Not enough votes for the strict target anywhere: everything is back in the queue, none in review.
    assert {r.status for r in rows.values()} == {Item.Status.OPEN}

    # Idempotent and deterministic.
    labels_before = {pk: (r.label, r.confidence) for pk, r in rows.items()}
    project_reaggregate(project_id=project.pk)
    again = {i.pk: (i.label, i.confidence) for i in Item.objects.filter(project=project)}
    assert again == labels_before


def test_gold_is_clamped_scores_annotators_and_calibrates(make_user):
    project, items, truth, users = _simulate(make_user, n_items=40)
    for item in items[:40]:
        gold_set(item=item, label=truth[item.pk])
    project.min_votes, project.confidence_target = 2, 0.9  # reachable: stopping events to calibrate on
    project.save(update_fields=["min_votes", "confidence_target"])
    project_reaggregate(project_id=project.pk)
    rows = {i.pk: i for i in Item.objects.filter(project=project)}
    assert all(rows[pk].label == t and rows[pk].is_gold for pk, t in truth.items())
    scores = {s.user_id: s for s in AnnotatorScore.objects.filter(project=project)}
    adversary = scores[users[-1].pk]
    assert adversary.gold_seen >= 20 and adversary.gold_accuracy < 0.4
    assert adversary.gold_wilson_high < 0.6
    assert adversary.status == AnnotatorScore.Status.BLOCKED  # gold rule, applied automatically
    change = AnnotatorStatusChange.objects.get(project=project, user=users[-1])
    assert change.by is None and "gold accuracy upper bound" in change.reason
    best = scores[users[0].pk]
    assert best.gold_wilson_low <= best.gold_accuracy <= best.gold_wilson_high
    assert best.status == AnnotatorScore.Status.ACTIVE
    calibration = CategoryCalibration.objects.get(project=project, category=items[0].category)
    # the vote table covers every checked item; a stopping event is the first prefix (>= 2 votes) at the target
    assert calibration.vote_table[0] == {"votes": 1, "checked": 40, "accuracy": calibration.vote_table[0]["accuracy"]}
    assert 30 <= calibration.n_checked <= 40 and calibration.mean_confidence >= 0.9
    # The threshold moves with the replayed stops: with a worker model that trusts the good annotators, three of 38
    # stops at 0.9 were wrong (8 %) and it loosened to twice the error (0.8); on this 60-item toy the default now
    # keeps majority vote (issue 23: 40 gold items are not evidence enough to leave it), whose 2-vote stops are
    # wrong more often, so it tightens (0.94). Either way between twice the error and 0.95.
    assert 0.5 < calibration.accuracy < calibration.mean_confidence and 0.8 - 1e-9 <= calibration.target <= 0.95


def test_reaggregate_leaves_gold_rows_whole_beside_regular_items(make_user):
    """Gold items only take their vote count from a re-aggregation; their label, posterior and status stay."""
    project, items, truth, _users = _simulate(make_user, n_items=20)
    gold = items[:5]
    for item in gold:
        gold_set(item=item, label=truth[item.pk])
    before = {
        i.pk: (i.label, i.posterior, i.confidence, i.status) for i in Item.objects.filter(pk__in=[g.pk for g in gold])
    }
    result = project_reaggregate(project_id=project.pk)
    assert result is not None and result.items_written == 20
    after = {
        i.pk: (i.label, i.posterior, i.confidence, i.status) for i in Item.objects.filter(pk__in=[g.pk for g in gold])
    }
    assert after == before
    assert all(label == truth[pk] for pk, (label, *_rest) in after.items())
    regular = Item.objects.filter(project=project, is_gold=False)
    assert all(r.posterior is not None and r.label in (0, 1) for r in regular)


def test_online_models_follow_each_new_snapshot(make_user):
    """The parsed snapshot is cached per process; a new re-aggregation must replace it at once."""
    from labeling.services.quality.engine import annotator_models

    project, _items, _truth, users = _simulate(make_user, n_items=20)
    project_reaggregate(project_id=project.pk)
    first = annotator_models(project, [0, 1])
    assert annotator_models(project, [0, 1]) is first  # same snapshot: not parsed again
    snap = ProjectQualitySnapshot.objects.get(project=project)
    flipped = [[0.1, 0.9], [0.9, 0.1]]
    snap.workers[str(users[0].pk)]["confusion"] = flipped
    snap.save()
    second = annotator_models(project, [0, 1])
    assert second is not first and second.confusions[users[0].pk].tolist() == flipped
