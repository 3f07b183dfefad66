"""Volunteer-facing reads: progress counts, leaderboards, the project list a volunteer can label."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time

from django.contrib.auth import get_user_model
from django.db.models import Count, Exists, F, OuterRef, Q, QuerySet
from django.utils import timezone

from labeling.algorithms.intervals import wilson_interval
from labeling.models import Annotation, Item, Project, VolunteerProfile
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
    """Projects the user may label, with `open_items` (items still needing votes), busiest first."""
    return (
        projects_for_volunteer(user)
        .annotate(open_items=Count("items", filter=Q(items__status=Item.Status.OPEN, items__is_gold=False)))
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


def volunteer_gold_accuracy(*, user) -> list[GoldAccuracy]:
    """Per project, the user's answers on gold items (with a known label) and how many were right, counting
    answers made before today only: a count that moved right after an answer would tell which item was gold.
    One query."""
    rows = list(
        Annotation.objects.filter(
            user=user, item__is_gold=True, item__gold_label__isnull=False, created_at__lt=_start_of_today()
        )
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


def volunteer_shows_on_leaderboard(*, user) -> bool:
    profile = VolunteerProfile.objects.filter(user=user).first()
    return True if profile is None else profile.show_on_leaderboard


def project_leaderboard(*, project: Project, limit: int = 20) -> list[dict]:
    """Top volunteers of a project by answers, without those who opted out: [{"username", "answers"}]."""
    hidden = VolunteerProfile.objects.filter(user_id=OuterRef("pk"), show_on_leaderboard=False)
    rows = (
        get_user_model()
        .objects.filter(annotations__item__project=project)
        .filter(~Exists(hidden))
        .annotate(answers=Count("annotations"))
        .order_by("-answers", "username")
        .values("username", "answers")[:limit]
    )
    return list(rows)
