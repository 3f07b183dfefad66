"""The agreement rule on hard work (issue 22, "honest people never blocked"): where the whole crowd agrees with the
consensus only ~60 % of the time (five grades, like web search relevance), an honest newcomer as good as the crowd
is never blocked, and a random clicker still is. Replayed through the services, the web crowd lost its best workers
to a fixed 0.8 (accuracy 0.37 against majority vote's 0.78)."""

from __future__ import annotations

import random

import pytest

from labeling.models import AnnotatorScore, Category, Item
from labeling.services.quality import rules
from tests.labeling.quality.qfactories import cast, make_project

pytestmark = pytest.mark.django_db

GRADES = ("bad", "fair", "good", "excellent", "perfect")
N_ITEMS = 60


def _answer(rng: random.Random, truth: int, accuracy: float) -> int:
    if rng.random() < accuracy:
        return truth
    return rng.choice([c for c in range(len(GRADES)) if c != truth])


def _status(project, user) -> str | None:
    return AnnotatorScore.objects.filter(project=project, user=user).values_list("status", flat=True).first()


def test_crowd_relative_threshold():
    assert rules.agreement_block_upper(crowd_agreed=0, crowd_compared=0, k=2) == pytest.approx(0.8)  # the prior
    assert rules.agreement_block_upper(crowd_agreed=950, crowd_compared=1000, k=2) == pytest.approx(0.8)  # easy
    hard = rules.agreement_block_upper(crowd_agreed=500, crowd_compared=1000, k=5)
    assert hard == pytest.approx(0.2 + (2 / 3) * ((500 + 9.5) / 1010 - 0.2))  # two-thirds from chance to the crowd
    assert rules.agreement_block_upper(crowd_agreed=100, crowd_compared=1000, k=5) == pytest.approx(0.2)


def test_honest_worker_on_hard_work_is_not_blocked_and_a_random_clicker_is(make_user):
    project, items = make_project(slug="grades", task_type="classify", categories=GRADES, n_items=N_ITEMS,
                                  min_votes=9, max_votes=12, target=0.999)  # fmt: skip
    ids = list(Category.objects.filter(project=project).order_by("id").values_list("id", flat=True))
    truth = {item.pk: i % len(GRADES) for i, item in enumerate(items)}
    rng = random.Random(5)
    crowd = [make_user(f"rater{i}") for i in range(5)]
    for item in items:  # the crowd: every rater right on 0.6 of the items, wrong ones spread over the other grades
        for user in crowd:
            cast(user, item, ids[_answer(rng, truth[item.pk], 0.6)])
    newcomer, clicker = make_user("newcomer"), make_user("clicker")
    clicked = 0
    for item in items:
        cast(newcomer, item, ids[_answer(rng, truth[item.pk], 0.6)])
        if _status(project, clicker) != AnnotatorScore.Status.BLOCKED:
            cast(clicker, item, rng.choice(ids))
            clicked += 1
    assert [_status(project, u) for u in [*crowd, newcomer]].count(AnnotatorScore.Status.BLOCKED) == 0
    assert _status(project, clicker) == AnnotatorScore.Status.BLOCKED
    assert clicked <= 40
    assert Item.objects.filter(project=project, annotations__user=newcomer).count() == N_ITEMS
