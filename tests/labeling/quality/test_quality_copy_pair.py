"""Issue 22: a pair copying each other's answers is blocked by the pairwise answer-copying check
(labeling/services/quality/collusion.py), both of them, with the reason, and their votes stop counting; an honest
crowd that agrees is never blocked by it."""

from __future__ import annotations

import inspect
import random
import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from labeling.models import AnnotatorLiveStats, AnnotatorScore, AnnotatorStatusChange, Item, Lease
from labeling.services.annotations import annotations_submit_batch
from labeling.services.quality.collusion import annotator_copy_check, copy_check_due
from tests.labeling.quality.qfactories import make_project

pytestmark = pytest.mark.django_db


def truth(item: Item) -> int:
    """The item's true answer, from its position in the project (not its id: the same on every database)."""
    return TRUTH[item.pk]


TRUTH: dict[int, int] = {}


def project_of(slug: str, n_items: int):
    project, items = make_project(slug=slug, n_items=n_items, min_votes=3, max_votes=9)
    TRUTH.update({item.pk: index % 2 for index, item in enumerate(items)})
    return project, items


def grid(user, project, items, labels) -> int:
    """One verify grid as the page posts it (one batch, 900 ms a tile); returns the answers taken."""
    for item in items:
        Lease.objects.update_or_create(
            item=item, user=user, defaults={"expires_at": timezone.now() + timedelta(minutes=5)}
        )
    answers = [
        {"item_id": i.pk, "submission_id": uuid.uuid4(), "answer": {"label": lab}, "time_spent_ms": 900}
        for i, lab in zip(items, labels, strict=True)
    ]
    return sum(r["ok"] for r in annotations_submit_batch(user=user, project=project, answers=answers))


def status_of(project, user) -> str:
    score = AnnotatorScore.objects.filter(project=project, user=user).first()
    return score.status if score else "new"


def test_copying_pair_is_blocked_both_within_30_answers_and_the_honest_never(
    make_user, django_capture_on_commit_callbacks
):
    project, items = project_of("copy-pair", 60)
    rng = random.Random(22)
    honest = [make_user(f"honest-{i}") for i in range(3)]
    a, b = make_user("copier-a"), make_user("copier-b")
    answered = {a.pk: 0, b.pk: 0}
    blocked_after: dict[int, int] = {}

    def batch(user, chunk, labels) -> int:
        with django_capture_on_commit_callbacks(execute=True):  # as a request: its after-commit work runs
            return grid(user, project, chunk, labels)

    for start in range(0, 60, 6):
        chunk = items[start : start + 6]
        for user in honest:  # right 95 % of the time, independently
            batch(user, chunk, [truth(i) if rng.random() < 0.95 else 1 - truth(i) for i in chunk])
        flips = [rng.randint(0, 1) for _ in chunk]
        for user in (a, b):  # b gives a's answers: one coin flip per item between them
            if status_of(project, user) == "blocked":
                blocked_after.setdefault(user.pk, answered[user.pk])
            else:
                answered[user.pk] += batch(user, chunk, flips)
        if len(blocked_after) == 2:
            break
    assert set(blocked_after) == {a.pk, b.pk}, (answered, AnnotatorLiveStats.objects.filter(user=a).first())
    assert max(blocked_after.values()) <= 30, blocked_after
    assert all(status_of(project, h) != "blocked" for h in honest)
    changes = AnnotatorStatusChange.objects.filter(project=project, to_status="blocked")
    reasons = list(changes.values_list("reason", flat=True))
    assert len(reasons) == 2 and all("identical to another volunteer's" in r for r in reasons), reasons
    # retroactive: the items count the honest votes only
    for item in Item.objects.filter(annotations__user=a).distinct():
        assert item.votes_count == item.annotations.exclude(user__in=[a, b]).count()


def test_a_status_set_by_a_person_is_left_alone(make_user, django_capture_on_commit_callbacks):
    project, items = project_of("copy-locked", 24)
    rng = random.Random(5)
    honest = [make_user(f"h-{i}") for i in range(3)]
    a, b = make_user("ca"), make_user("cb")
    with django_capture_on_commit_callbacks(execute=True):
        flips = [rng.randint(0, 1) for _ in items]
        for user in (a, b):  # first on every item: no consensus yet to compare them with online
            grid(user, project, items, flips)
        for user in honest:
            grid(user, project, items, [truth(i) for i in items])
        AnnotatorScore.objects.filter(project=project, user=b).update(status="active", status_locked=True)
        blocked = annotator_copy_check(project_id=project.pk, user_id=a.pk)
    assert blocked == [a.pk]
    assert status_of(project, a) == "blocked" and status_of(project, b) == "active"


def test_the_check_is_due_on_a_schedule_of_the_answer_count_alone():
    """Every 10 answers up to 200, then every 100 up to 2,000, then every 1,000; never for boxes. The schedule
    used to depend on the author's agreement, which a gold answer moves at once and a regular one later: whether
    the check ran -- the response's time and statements -- could tell a gold item from a regular one."""

    def due(before, after, task_type="verify"):
        return copy_check_due(answers_before=before, answers_after=after, task_type=task_type)

    assert not due(0, 4)  # too few answers to share 8 items
    assert not due(0, 8) and due(8, 20) and due(20, 32) and not due(31, 32)
    assert due(9, 10, "classify") and not due(10, 11, "classify") and due(19, 20, "classify")
    assert not due(250, 260) and due(290, 300) and not due(2100, 2200) and due(2999, 3000)
    assert not due(8, 20, "boxes")  # boxes: no labels to copy
    # gold or not, the same answers give the same verdict: the arguments are counts of answers only
    assert set(inspect.signature(copy_check_due).parameters) == {"answers_before", "answers_after", "task_type"}


def test_when_any_rule_blocks_one_copier_the_partner_is_checked_at_once(make_user, django_capture_on_commit_callbacks):
    """The live-crowd run saw one copier blocked by the agreement rule at 20 answers and the partner only at 43:
    the partner's own statistics were flattered by the pair's answers, so no check was due. A block (by any rule)
    now checks the blocked annotator's co-voters at once. The votes are stored directly here: no online statistic
    or check has seen them, as for a partner whose checks were never due."""
    from django.db import transaction

    from labeling.models import Annotation
    from labeling.services.quality.triggers import annotator_block

    project, items = project_of("copy-after-block", 24)
    rng = random.Random(7)
    honest = [make_user(f"hb-{i}") for i in range(3)]
    a, b = make_user("cba"), make_user("cbb")
    flips = [rng.randint(0, 1) for _ in items]
    votes = [Annotation(item=i, user=u, label=f, answer={"label": f}) for u in (a, b)
             for i, f in zip(items, flips, strict=True)]  # fmt: skip
    votes += [Annotation(item=i, user=h, label=truth(i) if rng.random() < 0.95 else 1 - truth(i)) for h in honest
              for i in items]  # fmt: skip
    Annotation.objects.bulk_create(votes)
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        assert annotator_block(project=project, user_id=a.pk, reason="an online rule")
    changes = list(AnnotatorStatusChange.objects.filter(project=project).values_list("user__username", "reason"))
    assert status_of(project, a) == "blocked" and status_of(project, b) == "blocked", changes
    assert all(status_of(project, h) != "blocked" for h in honest), changes
    reason = AnnotatorStatusChange.objects.get(project=project, user=b, to_status="blocked").reason
    assert "identical to another volunteer's" in reason, reason


def test_a_newcomer_whose_answers_had_nothing_to_compare_with_is_judged_at_the_next_reaggregation(
    make_user, django_capture_on_commit_callbacks
):
    """A coin-flipper's first grids land on fresh items: their own check compares them with nothing. The evidence
    comes when others answer those items; the project's next re-aggregation judges the newcomers again
    (collusion.newcomers_copy_check), so the block lands before their next grid, not one grid later. The honest
    volunteers, judged the same way, stay."""
    from labeling.services.quality import project_reaggregate

    project, items = project_of("fresh-flipper", 24)
    rng = random.Random(5)
    flipper = make_user("flipper")
    honest = [make_user(f"honest-{i}") for i in range(3)]
    # 24 answers, 12 of them wrong on purpose at random positions (a coin-flipper's record, fixed for the test)
    wrong = set(rng.sample(range(24), 12))
    labels = [1 - truth(item) if i in wrong else truth(item) for i, item in enumerate(items)]
    with django_capture_on_commit_callbacks(execute=True):
        for start in (0, 12):  # first on every item: nothing to compare with yet
            grid(flipper, project, items[start : start + 12], labels[start : start + 12])
    assert status_of(project, flipper) != "blocked"
    for user in honest:  # the honest crowd answers the same items afterwards
        with django_capture_on_commit_callbacks(execute=True):
            grid(user, project, items, [truth(i) for i in items])
    assert status_of(project, flipper) != "blocked"  # nobody judged the flipper since

    with django_capture_on_commit_callbacks(execute=True):
        result = project_reaggregate(project_id=project.pk)
    assert flipper.pk in result.newly_blocked
    assert status_of(project, flipper) == "blocked"
    assert (
        "agree with gold or the others' consensus on 12 of 24"
        in AnnotatorStatusChange.objects.get(project=project, user=flipper, to_status="blocked").reason
    )
    assert all(status_of(project, user) != "blocked" for user in honest)


def test_the_check_reads_each_annotators_latest_votes_only(make_user):
    """The read behind a check is bounded by RECENT_ITEMS votes per annotator (a window in the database, on both
    databases): a veteran who shares items with a newcomer no longer brings their whole record into the
    newcomer's check."""
    from labeling.models import Annotation
    from labeling.services.quality.collusion import RECENT_ITEMS, _recent_items

    project, items = project_of("recent", RECENT_ITEMS + 5)
    veteran, newcomer = make_user("veteran"), make_user("newcomer")
    Annotation.objects.bulk_create([Annotation(item=item, user=veteran, label=1) for item in items])
    Annotation.objects.bulk_create([Annotation(item=item, user=newcomer, label=0) for item in items[:3]])
    votes = Annotation.objects.filter(item__project=project, label__isnull=False)
    latest = list(votes.filter(user=veteran).order_by("-id").values_list("item_id", flat=True)[:RECENT_ITEMS])
    assert set(votes.filter(item_id__in=_recent_items(votes, [veteran.pk])).values_list("item_id", flat=True)) == set(
        latest
    )
    both = set(
        votes.filter(item_id__in=_recent_items(votes, [veteran.pk, newcomer.pk])).values_list("item_id", flat=True)
    )
    assert both == set(latest) | {item.pk for item in items[:3]}  # the newcomer's own items, however old
