"""Quality bonuses: once per period, to each annotator whose gold accuracy is proven high.

The rule: at least `bonus_min_gold` gold answers and a Wilson lower bound (95 %) of gold accuracy of at least
`bonus_wilson_min`. A worker with 9 of 10 right has a lower bound of 0.60; 48 of 50, 0.87. The lower bound (not
the raw share) keeps lucky short streaks from being paid. One bonus per (project, worker, period): the key
`bonus:<project>:<user>:<period>` makes re-running an award a no-op. Bonuses respect the budget.
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from crowdpay.models import EarningsEntry, PayPolicy
from crowdpay.services.ledger import earned_cents
from labeling.algorithms.intervals import wilson_interval
from labeling.models import AnnotatorScore, Project


def period_now() -> str:
    year, week, _ = timezone.now().isocalendar()
    return f"{year}-W{week:02d}"


def bonus_eligible(*, correct: int, seen: int, min_gold: int, wilson_min: float) -> bool:
    if seen < max(1, min_gold):
        return False
    low, _ = wilson_interval(correct, seen)
    return float(low) >= wilson_min


def bonuses_award(*, project: Project, period: str | None = None) -> list[int]:
    """Award the period's bonuses (idempotent). Returns the user ids newly awarded."""
    policy = PayPolicy.objects.filter(project=project).first()
    if policy is None or not policy.bonus_cents:
        return []
    period = period or period_now()
    scores = AnnotatorScore.objects.filter(project=project).exclude(status=AnnotatorScore.Status.BLOCKED)
    awarded = []
    with transaction.atomic():
        locked = type(project).objects.select_for_update(no_key=True).get(pk=project.pk)  # budget check vs. assignment
        spent = earned_cents(project=project)
        for user_id, correct, seen in scores.values_list("user_id", "gold_correct", "gold_seen").order_by("user_id"):
            if not bonus_eligible(correct=correct, seen=seen, min_gold=policy.bonus_min_gold,
                                  wilson_min=policy.bonus_wilson_min):  # fmt: skip
                continue
            if locked.budget_cents is not None and spent + policy.bonus_cents > locked.budget_cents:
                break
            key = f"bonus:{project.pk}:{user_id}:{period}"
            _, created = EarningsEntry.objects.get_or_create(
                key=key,
                defaults={"project": project, "user_id": user_id, "kind": EarningsEntry.Kind.BONUS,
                          "amount_cents": policy.bonus_cents, "note": f"gold quality bonus {period}"},
            )  # fmt: skip
            if created:
                spent += policy.bonus_cents
                awarded.append(user_id)
    return awarded
