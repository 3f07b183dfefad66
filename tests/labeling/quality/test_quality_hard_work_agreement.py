"""The agreement rule on hard work (issue 22, "honest people never blocked"): where the whole crowd agrees with the
consensus only ~60 % of the time (five grades, like web search relevance), an honest newcomer as good as the crowd
is never blocked, and a random clicker still is. Replayed through the services, the web crowd lost its best workers
to a fixed 0.8 (accuracy 0.37 against majority vote's 0.78)."""

from __future__ import annotations

import random

import pytest

from labeling.models import AnnotatorScore, Category, Item
from labeling.services.quality import rules
from labeling.services.quality.triggers import agreement_threshold
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
    hard = rules.agreement_block_upper(crowd_agreed=750, crowd_compared=1000, k=5)
    assert hard == pytest.approx(0.2 + (2 / 3) * ((750 + 9.5) / 1010 - 0.2))  # two-thirds from chance to the crowd
    # a crowd that agrees with its consensus less than CROWD_RELIABLE: the consensus is no yardstick, no limit
    assert rules.agreement_block_upper(crowd_agreed=500, crowd_compared=1000, k=5) == 0.0


def _crowd_project(make_user, slug: str, accuracy: float):
    """A 5-grade classify project whose five raters each got every item right with probability `accuracy` (wrong
    ones spread over the other grades), through the services; (project, items, category ids, truth, rng)."""
    project, items = make_project(slug=slug, task_type="classify", categories=GRADES, n_items=N_ITEMS,
                                  min_votes=9, max_votes=12, target=0.999)  # fmt: skip
    ids = list(Category.objects.filter(project=project).order_by("id").values_list("id", flat=True))
    truth = {item.pk: i % len(GRADES) for i, item in enumerate(items)}
    rng = random.Random(5)
    crowd = [make_user(f"{slug}-rater{i}") for i in range(5)]
    for item in items:
        for user in crowd:
            cast(user, item, ids[_answer(rng, truth[item.pk], accuracy)])
    return project, items, ids, truth, rng, crowd


def test_on_hard_work_an_honest_worker_below_the_crowd_is_not_blocked_and_a_random_clicker_is(
    make_user, django_assert_num_queries
):
    # The crowd agrees with its consensus on ~0.8: a reliable yardstick, but a newcomer right on 0.6 (with five
    # grades, far above chance) sits below 0.8 and the fixed limit blocked them.
    project, items, ids, truth, rng, crowd = _crowd_project(make_user, "grades", 0.8)
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
    # The crowd's limit, read on the submit path once a worker's bound is below 0.8: the crowd's sums and the
    # project's category count, however large the crowd.
    with django_assert_num_queries(2):
        limit = agreement_threshold(project=project, user_id=newcomer.pk)
    assert 0.2 < limit < rules.AGREEMENT_BLOCK_UPPER


def test_a_weak_crowd_is_no_yardstick(make_user):
    # Raters right on 0.45 of five grades: their consensus is often wrong, and an expert (0.85) disagrees with it
    # often enough for a fixed limit to block them. Such a consensus judges nobody; the pooled model weighs them.
    project, items, ids, truth, rng, crowd = _crowd_project(make_user, "weak", 0.45)
    expert = make_user("expert")
    for item in items:
        cast(expert, item, ids[_answer(rng, truth[item.pk], 0.85)])
    assert [_status(project, u) for u in [*crowd, expert]].count(AnnotatorScore.Status.BLOCKED) == 0
