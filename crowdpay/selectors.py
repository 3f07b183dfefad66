"""Reads of the paid crowd: balances, the project's pay summary (budget, forecast, fair pay), a worker's totals."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.db.models import Count, F, Min, Q, Sum
from django.db.models.functions import Greatest
from django.utils import timezone

from crowdpay.models import EarningsEntry, PayPolicy
from crowdpay.services.budget import unit_cents
from crowdpay.services.ledger import EARNING_KINDS, grid_size_of
from labeling.models import Annotation, AnnotatorScore, Item, Project

MS_PER_HOUR = 3_600_000


@dataclass(frozen=True)
class FairPay:
    user_id: int
    username: str
    median_ms: float | None
    hourly_cents: int | None
    below_minimum: bool


@dataclass(frozen=True)
class Forecast:
    remaining_answers: int
    cost_cents: int
    answers_per_day: float
    days: float | None
    budget_cents: int | None
    spent_cents: int
    budget_left_cents: int | None
    affordable_answers: int | None


def hourly_cents(*, reward_cents_per_answer: float, median_ms: float | None) -> int | None:
    """Estimated pay per hour of a worker who answers at their median pace (None without a pace)."""
    if not median_ms or median_ms <= 0:
        return None
    return int(reward_cents_per_answer * MS_PER_HOUR / median_ms)


def fair_pay(*, project: Project) -> list[FairPay]:
    policy = PayPolicy.objects.filter(project=project).first()
    grid = policy.grid_size if policy else 0
    per_answer = project.reward_cents / grid if grid else project.reward_cents
    minimum = policy.min_hourly_cents if policy else 0
    rows = []
    scores = AnnotatorScore.objects.filter(project=project).select_related("user").order_by("user_id")
    for score in scores:
        hourly = hourly_cents(reward_cents_per_answer=per_answer, median_ms=score.median_time_ms)
        rows.append(FairPay(score.user_id, score.user.username, score.median_time_ms, hourly,
                            bool(minimum and hourly is not None and hourly < minimum)))  # fmt: skip
    return rows


def spent_cents(project: Project) -> int:
    qs = EarningsEntry.objects.filter(project=project, kind__in=EARNING_KINDS)
    return qs.aggregate(s=Sum("amount_cents"))["s"] or 0


def forecast(*, project: Project, window_days: int = 7) -> Forecast:
    """Money and days to finish at the measured pace: votes still wanted x unit price; pace = answers per day
    over the last `window_days` (or since the first answer, if sooner)."""
    remaining = (
        Item.objects.filter(project=project, status=Item.Status.OPEN).aggregate(
            r=Sum(Greatest(F("needed_votes") - F("votes_count"), 0))
        )["r"]
        or 0
    )
    unit = unit_cents(project, grid_size_of(project)) if project.reward_cents else 0
    now = timezone.now()
    since = now - timedelta(days=window_days)
    answers = Annotation.objects.filter(item__project=project)
    stats = answers.aggregate(first=Min("created_at"), recent=Count("id", filter=Q(created_at__gte=since)))
    per_day = 0.0
    if stats["first"] is not None:
        span_days = max((now - max(stats["first"], since)).total_seconds() / 86400, 1 / 24)
        per_day = stats["recent"] / span_days
    spent = spent_cents(project)
    left = None if project.budget_cents is None else project.budget_cents - spent
    return Forecast(
        remaining_answers=int(remaining),
        cost_cents=int(remaining) * unit,
        answers_per_day=round(per_day, 1),
        days=round(remaining / per_day, 1) if per_day > 0 else None,
        budget_cents=project.budget_cents,
        spent_cents=spent,
        budget_left_cents=left,
        affordable_answers=(max(0, left) // unit if (left is not None and unit) else None),
    )


@dataclass(frozen=True)
class ProjectEarnings:
    project: Project
    earned_cents: int
    paid_cents: int
    balance_cents: int
    answers: int
    bonuses: int
    currency: str


def worker_earnings(*, user) -> list[ProjectEarnings]:
    """A worker's totals per project (their profile's earnings section)."""
    rows = (
        EarningsEntry.objects.filter(user=user)
        .values("project_id")
        .annotate(
            earned=Sum("amount_cents", filter=Q(kind__in=EARNING_KINDS)),
            paid=Sum("amount_cents", filter=Q(kind=EarningsEntry.Kind.PAYOUT)),
            answers=Count("id", filter=Q(kind=EarningsEntry.Kind.ANSWER)),
            reversals=Count("id", filter=Q(kind=EarningsEntry.Kind.REVERSAL)),
            bonuses=Sum("amount_cents", filter=Q(kind=EarningsEntry.Kind.BONUS)),
        )
        .order_by("project_id")
    )
    projects = Project.objects.in_bulk([r["project_id"] for r in rows])
    currencies = dict(PayPolicy.objects.filter(project_id__in=projects).values_list("project_id", "currency"))
    out = []
    for r in rows:
        earned, paid = r["earned"] or 0, -(r["paid"] or 0)
        out.append(ProjectEarnings(projects[r["project_id"]], earned, paid, earned - paid,
                                   r["answers"] - r["reversals"], r["bonuses"] or 0,
                                   currencies.get(r["project_id"], "GBP")))  # fmt: skip
    return out
