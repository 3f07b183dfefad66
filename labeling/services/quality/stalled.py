"""Route items that cannot finish to review (see quality.md, "Stalled items").

An open item that already has votes can stall in two ways:
* no eligible annotator left: every annotator of the project who may still label (`eligible_annotators`: its
  volunteers, members and past annotators, not blocked) has answered or skipped it, so nobody will ever be
  offered it again (three volunteers, max votes seven, a split vote);
* it has waited longer than the project's `stall_hours` for its next vote.
Both go to review with that reason. A `no_annotator` item goes back to open when an eligible annotator who has
not seen it appears (a newcomer), unless a reviewer already acted on it.

The sweep runs from the beat schedule and after every full re-aggregation; it locks the items in id order (the
order of votes and re-aggregation) and re-checks each one under the lock, so a vote that lands meanwhile wins.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.db.models import Count, Max, Q, QuerySet
from django.utils import timezone

from annotate.roles import Role
from labeling.models import Annotation, AnnotatorScore, Item, Project, Skip
from labeling.services.quality.transitions import Caller, item_save

# An item nobody else can answer still waits this long after its last vote: annotators who answer it in the
# same session as the others (several tabs, a lease just taken) are not cut off by a sweep that runs meanwhile.
NO_ANNOTATOR_GRACE = timedelta(minutes=10)


@dataclass
class StalledResult:
    no_annotator: list[int] = field(default_factory=list)
    stalled: list[int] = field(default_factory=list)
    reopened: list[int] = field(default_factory=list)


def eligible_annotators(project: Project) -> QuerySet:
    """The users who may still label the project: its active volunteers who can still come (every volunteer for a
    public project, the invited members for an invite-only one) and everyone who already labelled it, less those
    blocked in it. The one definition for the vote's routing (online.py) and this sweep."""
    user_model = get_user_model()
    scores = AnnotatorScore.objects.filter(project_id=project.pk)
    who = Q(pk__in=scores.values("user_id")) | Q(
        pk__in=Project.members.through.objects.filter(project_id=project.pk).values("user_id")
    )
    if project.visibility == Project.Visibility.PUBLIC:
        who |= Q(pk__in=user_model.groups.through.objects.filter(group__name=Role.VOLUNTEER).values("user_id"))
    blocked = scores.filter(status=AnnotatorScore.Status.BLOCKED).values("user_id")
    return user_model.objects.filter(who, is_active=True).exclude(pk__in=blocked)


def _eligible(project: Project) -> set[int]:
    return set(eligible_annotators(project).values_list("pk", flat=True))


def _seen_by_everyone(item_ids: list[int], eligible: set[int]) -> set[int]:
    """The items among `item_ids` that every eligible annotator has answered or skipped. Counted in the database
    (distinct eligible users per item, over votes and skips): after a re-aggregation of a large project the open
    voted items are hundreds of thousands, and reading who saw each of them into Python sets took seconds."""
    if not eligible:
        return set(item_ids)
    if not item_ids:
        return set()
    users = list(eligible)
    seen = (
        Annotation.objects.filter(item__id__any_of=item_ids, user__id__any_of=users)
        .values("item_id", "user_id")
        .order_by()
    )
    skipped = (
        Skip.objects.filter(item__id__any_of=item_ids, user__id__any_of=users).values("item_id", "user_id").order_by()
    )
    sql, params = seen.union(skipped).query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT u.item_id FROM ({sql}) u GROUP BY u.item_id HAVING COUNT(*) >= %s",  # noqa: S608 - ORM sql
            [*params, len(users)],
        )
        return {row[0] for row in cursor.fetchall()}


def items_route_stalled(*, project: Project, now: datetime | None = None) -> StalledResult:
    """One sweep over the project's open items with votes (and its review items waiting for an annotator)."""
    now = now or timezone.now()
    result = StalledResult()
    eligible = _eligible(project)
    candidates, answers = {}, {}
    for item_id, last_vote, n in (
        Item.objects.filter(project=project, status=Item.Status.OPEN, is_gold=False, votes_count__gt=0)
        .annotate(last_vote=Max("annotations__created_at"), answers=Count("annotations"))
        .filter(last_vote__lt=now - NO_ANNOTATOR_GRACE)
        .values_list("id", "last_vote", "answers")
    ):
        candidates[item_id], answers[item_id] = last_vote, n
    waiting = list(
        Item.objects.filter(
            project=project, status=Item.Status.REVIEW, review_reason=Item.ReviewReason.NO_ANNOTATOR
        ).values_list("id", flat=True)
    )
    if not candidates and not waiting:
        return result
    # Only an item with at least as many answers and skips as there are eligible annotators can have been seen by
    # all of them: the others (nearly all, in a large crowd) need no look at who saw them.
    skips = dict(
        Skip.objects.filter(item__project=project).values("item_id").annotate(n=Count("id")).values_list("item_id", "n")
    )
    possible = [i for i, n in answers.items() if n + skips.get(i, 0) >= len(eligible)]
    everyone = _seen_by_everyone([*possible, *waiting], eligible)
    stall_before = now - timedelta(hours=project.stall_hours) if project.stall_hours > 0 else None
    decisions: dict[int, tuple[str, str]] = {}  # item id -> (status, review reason)
    for item_id, last_vote in candidates.items():
        if item_id in everyone:  # nobody eligible left
            decisions[item_id] = (Item.Status.REVIEW, Item.ReviewReason.NO_ANNOTATOR)
        elif stall_before is not None and last_vote < stall_before:
            decisions[item_id] = (Item.Status.REVIEW, Item.ReviewReason.STALLED)
    for item_id in waiting:
        if item_id not in everyone:
            decisions[item_id] = (Item.Status.OPEN, "")
    if not decisions:
        return result
    with transaction.atomic():
        locked = Item.objects.select_for_update().filter(pk__in=list(decisions)).order_by("id")
        for item in locked:
            status, reason = decisions[item.pk]
            expected = Item.Status.REVIEW if status == Item.Status.OPEN else Item.Status.OPEN
            if item.status != expected or item.is_gold:
                continue  # a vote or a reviewer got there first
            if expected == Item.Status.REVIEW and item.review_reason != Item.ReviewReason.NO_ANNOTATOR:
                continue
            item.status, item.review_reason = status, reason
            item.priority = 0.0 if status == Item.Status.REVIEW else 1.0 + float(item.confidence or 0.0)
            item_save(caller=Caller.STALLED, item=item, fields=["status", "review_reason", "priority"],
                      before=expected)  # fmt: skip
            if status == Item.Status.OPEN:
                result.reopened.append(item.pk)
            elif reason == Item.ReviewReason.NO_ANNOTATOR:
                result.no_annotator.append(item.pk)
            else:
                result.stalled.append(item.pk)
    return result


def projects_route_stalled(*, now: datetime | None = None) -> dict[int, StalledResult]:
    """The beat's sweep: every project with open voted items or items waiting for an annotator."""
    ids = (
        Item.objects.filter(is_gold=False, votes_count__gt=0)
        .filter(status__in=[Item.Status.OPEN, Item.Status.REVIEW])
        .values_list("project_id", flat=True)
        .distinct()
    )
    return {project.pk: items_route_stalled(project=project, now=now) for project in Project.objects.filter(pk__in=ids)}


def items_reopen_for_newcomer(*, project: Project, exclude: list[int]) -> int:
    """A newcomer (no answer in the project yet, at their `next`): every item waiting in review for an annotator
    (`no_annotator`) is one they have not seen, so it goes back to open at once. Rows another transaction holds
    are skipped (SKIP LOCKED), so this never waits inside the assignment's transaction: a vote holding one of them
    decides it anyway. Two statements, only for newcomers."""
    from django.db.models import F, Value
    from django.db.models.functions import Coalesce

    waiting = Item.objects.filter(
        project=project, status=Item.Status.REVIEW, review_reason=Item.ReviewReason.NO_ANNOTATOR
    ).exclude(pk__in=exclude)
    ids = list(waiting.select_for_update(skip_locked=True).order_by("id").values_list("pk", flat=True))
    if not ids:
        return 0
    return waiting.filter(pk__in=ids).update(
        status=Item.Status.OPEN,
        review_reason="",
        priority=1.0 + Coalesce(F("confidence"), Value(0.0)),
        version=F("version") + 1,
        updated_at=timezone.now(),
    )
