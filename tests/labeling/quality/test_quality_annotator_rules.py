"""Annotator status rules: explicit thresholds, sticky blocks, logged changes, person overrides win."""

from __future__ import annotations

import pytest

from labeling.models import Annotation, AnnotatorScore, AnnotatorStatusChange, Item
from labeling.services.quality import annotator_status_set, gold_set, project_reaggregate, rules
from tests.labeling.quality.qfactories import cast, make_project


def ev(**kw):
    base = {"gold_seen": 0, "gold_high": None, "volume": 0, "timed": 0, "median_time_ms": None,
            "top_answer_share": None, "consensus_top_share": 0.5}  # fmt: skip
    return rules.Evidence(**{**base, **kw})


@pytest.mark.parametrize(
    ("evidence", "expected"),
    [
        (ev(), None),
        (ev(volume=10), "active"),
        (ev(gold_seen=5, gold_high=0.55), "blocked"),
        (ev(gold_seen=4, gold_high=0.3), None),  # not enough gold yet
        (ev(gold_seen=6, gold_high=0.7), "probation"),
        (ev(gold_seen=6, gold_high=0.95), "active"),
        (ev(volume=30, timed=25, median_time_ms=120), "blocked"),
        (ev(volume=30, timed=10, median_time_ms=120), "active"),  # too few timed answers to judge speed
        (ev(volume=60, top_answer_share=1.0), "blocked"),
        (ev(volume=25, top_answer_share=1.0), "probation"),
        (ev(volume=60, top_answer_share=1.0, consensus_top_share=0.9), "active"),  # the data really is one-sided
    ],
)
def test_rules(evidence, expected):
    assert rules.status_by_rules(evidence)[0] == expected


def test_blocked_is_sticky_for_rules():
    assert rules.next_status("blocked", "active") == "blocked"
    assert rules.next_status("probation", "active") == "active"
    assert rules.next_status("new", None) == "new"


@pytest.mark.django_db
def test_online_gold_rule_blocks_and_logs(make_user):
    project, items = make_project(slug="goldrule", n_items=6, min_votes=1, max_votes=3)
    for item in items:
        gold_set(item=item, label=1)
    bad = make_user("bad")
    for item in items[:5]:
        cast(bad, item, 0)
    score = AnnotatorScore.objects.get(project=project, user=bad)
    assert (score.gold_seen, score.gold_correct, score.status) == (5, 0, "blocked")
    assert score.gold_wilson_high < 0.6
    change = AnnotatorStatusChange.objects.get(project=project, user=bad)
    assert change.by is None and change.from_status == "new"


@pytest.mark.django_db
def test_same_answer_spammer_blocked_by_reaggregation_unless_overridden(make_user):
    project, items = make_project(slug="same", n_items=52, min_votes=3, max_votes=5)
    honest = [make_user(f"h{i}") for i in range(2)]
    spam, trusted = make_user("spam"), make_user("trusted")
    admin = make_user("adm", role="admin")
    rows = []
    for n, item in enumerate(items):
        truth = n % 2
        rows += [Annotation(item=item, user=u, label=truth, answer={"label": truth}) for u in honest]
        rows += [Annotation(item=item, user=spam, label=1, answer={"label": 1})]
        rows += [Annotation(item=item, user=trusted, label=1, answer={"label": 1})]
    Annotation.objects.bulk_create(rows)
    Item.objects.filter(project=project).update(votes_count=4)
    annotator_status_set(project=project, user=trusted, status="active", by=admin, reason="known expert")
    result = project_reaggregate(project_id=project.pk)
    statuses = dict(AnnotatorScore.objects.filter(project=project).values_list("user__username", "status"))
    assert statuses["spam"] == "blocked" and result.newly_blocked == [spam.pk]
    assert statuses["trusted"] == "active"  # the person's decision holds against the rule
    assert statuses["h0"] == statuses["h1"] == "active"
    assert "same answer" in AnnotatorStatusChange.objects.get(project=project, user=spam).reason
    # Without the spammer's votes, the honest pair decides: the "no" items are labelled no.
    labels = dict(Item.objects.filter(project=project).values_list("id", "label"))
    assert all(labels[item.pk] == n % 2 for n, item in enumerate(items))
    assert Item.objects.get(pk=items[0].pk).votes_count == 3
    # (the `trusted` annotator says yes to everything and was kept by a person: 2 of 3 counted votes say "no")
    _ = cast
