"""Volunteer-facing reads: progress counts, leaderboards, the project list a volunteer can label."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time

from django.contrib.auth import get_user_model
from django.db.models import Case, Count, Exists, F, IntegerField, OuterRef, Q, QuerySet, Subquery, Value, When
from django.db.models.functions import Coalesce
from django.utils import timezone

from labeling.algorithms.intervals import wilson_interval
from labeling.models import Annotation, AnnotatorScore, Item, Project, VolunteerProfile
from labeling.selectors.projects import projects_for_volunteer


def _start_of_today() -> datetime:
    now = timezone.localtime()
    return timezone.make_aware(datetime.combine(now.date(), time.min), now.tzinfo)


def volunteer_progress(*, user, project: Project | None = None) -> dict[str, int]:
    """{"today": answers since local midnight, "total": all answers} (in one project, or everywhere)."""
    qs = Annotation.objects.filter(user=user)
    if project is not None:
        qs = qs.filter(item__project=project)
    return qs.aggregate(total=Count("id"), today=Count("id", filter=Q(created_at__gte=_start_of_today())))


def volunteer_projects(*, user) -> QuerySet[Project]:
    """Projects the user may label, with `open_items`: items still wanting an answer that this user has not
    answered yet (what is left for them, not the project's whole backlog), most left first, and `blocked`.

    Gold counts exactly like regular work (a gold item wants an answer from every volunteer until they gave
    it), so the count drops by one after every answer, gold or not: it never tells which item was gold. A blocked
    volunteer has nothing left (0), and `blocked` says why the list has nothing for them."""
    left = (
        Item.objects.filter(project=OuterRef("pk"))
        .filter(Q(status=Item.Status.OPEN) | Q(is_gold=True))
        .exclude(status=Item.Status.REJECTED)
        .exclude(Exists(Annotation.objects.filter(item_id=OuterRef("pk"), user_id=user.pk)))
        .order_by()
        .values("project")
        .annotate(n=Count("id"))
        .values("n")
    )
    blocked = AnnotatorScore.objects.filter(
        project=OuterRef("pk"), user_id=user.pk, status=AnnotatorScore.Status.BLOCKED
    )
    return (
        projects_for_volunteer(user)
        .annotate(blocked=Exists(blocked))
        .annotate(
            open_items=Case(
                When(blocked=True, then=Value(0)),
                default=Coalesce(Subquery(left, output_field=IntegerField()), 0),
                output_field=IntegerField(),
            )
        )
        .order_by("-open_items", "name")
    )


def volunteer_project_counts(*, user) -> list[dict]:
    """Per project the user has answered in: {"project": Project, "total", "today"}."""
    rows = (
        Annotation.objects.filter(user=user)
        .values("item__project")
        .annotate(total=Count("id"), today=Count("id", filter=Q(created_at__gte=_start_of_today())))
        .order_by("-total")
    )
    projects = Project.objects.in_bulk([r["item__project"] for r in rows])
    return [{"project": projects[r["item__project"]], "total": r["total"], "today": r["today"]} for r in rows]


@dataclass(frozen=True)
class GoldAccuracy:
    """A volunteer's accuracy on known answers in one project, with its 95 % Wilson interval."""

    project_name: str
    project_slug: str
    answers: int
    correct: int
    accuracy: float
    low: float
    high: float


# The profile's gold accuracy counts the user's answers up to the last whole block of this many of their answers
# in the project: it moves on the day they label (after every GOLD_FEEDBACK_BLOCK answers), but never right after
# one answer, so a change cannot point at the gold item (a block holds about GOLD_FEEDBACK_BLOCK x gold_rate).
GOLD_FEEDBACK_BLOCK = 20


def volunteer_gold_accuracy(*, user) -> list[GoldAccuracy]:
    """Per project, the user's answers on gold items (with a known label) and how many were right, counting the
    answers before the user's latest partial block of GOLD_FEEDBACK_BLOCK answers in that project (today's
    included). Two queries."""
    cutoff = _gold_feedback_cutoffs(user)
    if not cutoff:
        return []
    window = Q()
    for project_id, last_id in cutoff.items():
        window |= Q(item__project_id=project_id, id__lte=last_id)
    rows = list(
        Annotation.objects.filter(window, user=user, item__is_gold=True, item__gold_label__isnull=False)
        .values("item__project__name", "item__project__slug")
        .annotate(n=Count("id"), right=Count("id", filter=Q(label=F("item__gold_label"))))
        .order_by("item__project__name")
    )
    if not rows:
        return []
    low, high = wilson_interval([r["right"] for r in rows], [r["n"] for r in rows])
    return [
        GoldAccuracy(
            project_name=r["item__project__name"],
            project_slug=r["item__project__slug"],
            answers=r["n"],
            correct=r["right"],
            accuracy=r["right"] / r["n"],
            low=float(lo),
            high=float(hi),
        )
        for r, lo, hi in zip(rows, low.tolist(), high.tolist(), strict=True)
    ]


def _gold_feedback_cutoffs(user) -> dict[int, int]:
    """project id -> id of the user's last answer that closes a whole block of GOLD_FEEDBACK_BLOCK answers there
    (one count per project, then one indexed read per project with a whole block)."""
    counts = Annotation.objects.filter(user=user).values("item__project").annotate(n=Count("id")).order_by()
    out = {}
    for row in counts:
        whole = row["n"] // GOLD_FEEDBACK_BLOCK * GOLD_FEEDBACK_BLOCK
        if whole:
            mine = Annotation.objects.filter(user=user, item__project_id=row["item__project"]).order_by("id")
            out[row["item__project"]] = mine.values_list("id", flat=True)[whole - 1]
    return out


def volunteer_shows_on_leaderboard(*, user) -> bool:
    profile = VolunteerProfile.objects.filter(user=user).first()
    return True if profile is None else profile.show_on_leaderboard


def project_leaderboard(*, project: Project, limit: int = 20) -> list[dict]:
    """Top volunteers of a project by answers, without those who opted out or are blocked there (a spammer's
    answers are not a contribution): [{"username", "answers"}]."""
    hidden = VolunteerProfile.objects.filter(user_id=OuterRef("pk"), show_on_leaderboard=False)
    blocked = AnnotatorScore.objects.filter(
        project=project, user_id=OuterRef("pk"), status=AnnotatorScore.Status.BLOCKED
    )
    rows = (
        get_user_model()
        .objects.filter(annotations__item__project=project)
        .filter(~Exists(hidden))
        .filter(~Exists(blocked))
        .annotate(answers=Count("annotations"))
        .order_by("-answers", "username")
        .values("username", "answers")[:limit]
    )
    return list(rows)
