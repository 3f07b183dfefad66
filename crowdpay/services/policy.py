"""A project's pay settings: the reward and budget (on the project, read by assignment without a query) and the
rest of its pay policy. The one writer of both."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _

from annotate.exceptions import ServiceError
from crowdpay.models import PayPolicy
from labeling.models import Project

POLICY_FIELDS = (
    "currency", "grid_size", "bonus_cents", "bonus_wilson_min", "bonus_min_gold", "min_hourly_cents",
    "completion_answers", "completion_code", "prolific_enabled", "mturk_enabled",
)  # fmt: skip


def pay_policy_set(*, project: Project, reward_cents: int | None = None, budget_cents: int | str | None = "keep",
                   **fields: Any) -> PayPolicy:  # fmt: skip
    """Set any of the reward (cents per answer, or per grid when grid_size > 0), the budget (cents; None = no
    budget) and the policy fields. Amounts are integer cents."""
    unknown = set(fields) - set(POLICY_FIELDS)
    if unknown:
        raise ServiceError(f"Unknown pay settings: {', '.join(sorted(unknown))}.", code="invalid_pay_setting")
    for name in ("grid_size", "bonus_cents", "bonus_min_gold", "min_hourly_cents", "completion_answers"):
        if name in fields and (not isinstance(fields[name], int) or fields[name] < 0):
            raise ServiceError(_("Amounts and counts must be whole numbers of at least 0."), code="invalid_amount")
    if reward_cents is not None and (not isinstance(reward_cents, int) or not 0 <= reward_cents <= 1_000_000):
        raise ServiceError(_("Amounts and counts must be whole numbers of at least 0."), code="invalid_amount")
    if budget_cents not in ("keep", None) and (not isinstance(budget_cents, int) or budget_cents < 0):
        raise ServiceError(_("Amounts and counts must be whole numbers of at least 0."), code="invalid_amount")
    if "currency" in fields and not (isinstance(fields["currency"], str) and len(fields["currency"]) == 3):
        raise ServiceError(_("The currency is a three-letter code (GBP, USD, EUR)."), code="invalid_currency")
    with transaction.atomic():
        locked = Project.objects.select_for_update(no_key=True).get(pk=project.pk)
        update = []
        if reward_cents is not None:
            locked.reward_cents = project.reward_cents = reward_cents
            update.append("reward_cents")
        if budget_cents != "keep":
            locked.budget_cents = project.budget_cents = budget_cents
            update.append("budget_cents")
        if update:
            locked.save(update_fields=update)
        policy, _created = PayPolicy.objects.select_for_update().get_or_create(project=project)
        for name, value in fields.items():
            setattr(policy, name, value.upper() if name == "currency" else value)
        if fields:
            policy.full_clean()
            policy.save()
    return policy
