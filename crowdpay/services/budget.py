"""The budget check of assignment: never lease work the remaining budget cannot pay.

Called by labeling.services.assignment.next_items (only for a project with a budget) inside its transaction.
It locks the project row, so grants of one budgeted project are serialised and the check is exact: money
earned so far + every active lease at the unit price + the new leases <= budget. A late answer on an expired
lease (which assignment still accepts while the item needs votes) can overshoot by that answer.
"""

from __future__ import annotations

from django.db.models import Sum

from crowdpay.models import EarningsEntry
from crowdpay.services.ledger import EARNING_KINDS, grid_size_of
from labeling.models import Lease, Project


def unit_cents(project: Project, grid: int = 0) -> int:
    """What one more answer may cost: the reward, or a grid's reward per answer rounded up."""
    reward = project.reward_cents
    return -(-reward // grid) if grid else reward


def budget_room(*, project: Project, wanted: int, now) -> int:
    """How many of `wanted` new leases the budget allows (0 when it is spent). Four statements: the project row
    locked, its grid size, the money earned, the active leases."""
    budget = (
        Project.objects.select_for_update(no_key=True)
        .filter(pk=project.pk)
        .values_list("budget_cents", flat=True)
        .first()
    )
    if budget is None or wanted <= 0:
        return wanted
    unit = unit_cents(project, grid_size_of(project)) if project.reward_cents else 0
    if unit <= 0:
        return wanted
    spent = (
        EarningsEntry.objects.filter(project=project, kind__in=EARNING_KINDS).aggregate(s=Sum("amount_cents"))["s"] or 0
    )
    reserved = Lease.objects.filter(item__project=project, expires_at__gt=now).count()
    room = (budget - spent - reserved * unit) // unit
    return max(0, min(wanted, room))
