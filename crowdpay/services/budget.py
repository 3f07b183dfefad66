"""The budget check of assignment: never lease work the remaining budget cannot pay.

Called by labeling.services.assignment.next_items (only for a project with a budget) inside its transaction.
It locks the project row, so grants of one budgeted project are serialised and the check is exact: money
earned so far + every active lease at the unit price + the new leases <= budget. A late answer on an expired
lease (which assignment still accepts while the item needs votes) can overshoot by that answer.
"""

from __future__ import annotations

from django.db.models import Count, IntegerField, OuterRef, Subquery, Sum
from django.db.models.functions import Coalesce

from crowdpay.models import EarningsEntry
from crowdpay.services.ledger import EARNING_KINDS, grid_size_of
from labeling.models import Lease, Project


def unit_cents(project: Project, grid: int = 0) -> int:
    """What one more answer may cost: the reward, or a grid's reward per answer rounded up."""
    reward = project.reward_cents
    return -(-reward // grid) if grid else reward


def budget_room(*, project: Project, wanted: int, now) -> int:
    """How many of `wanted` new leases the budget allows (0 when it is spent). Three statements: the project row
    locked, its grid size, then the money earned and the active leases read together.

    Together, in one statement, because one statement sees one snapshot: an answer committing between two separate
    reads (its lease deleted, its earning inserted, in one transaction that does not wait for this lock) would be
    missed by both the earnings read before it and the leases read after it, and its reward leased a second time.
    """
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
        EarningsEntry.objects.filter(project=OuterRef("pk"), kind__in=EARNING_KINDS)
        .order_by()
        .values("project")
        .annotate(s=Sum("amount_cents"))
        .values("s")
    )
    reserved = (
        Lease.objects.filter(item__project=OuterRef("pk"), expires_at__gt=now)
        .order_by()
        .values("item__project")
        .annotate(c=Count("id"))
        .values("c")
    )
    row = (
        Project.objects.filter(pk=project.pk)
        .annotate(
            spent=Coalesce(Subquery(spent[:1], output_field=IntegerField()), 0),
            reserved=Coalesce(Subquery(reserved[:1], output_field=IntegerField()), 0),
        )
        .values("spent", "reserved")
        .get()
    )
    room = (budget - row["spent"] - row["reserved"] * unit) // unit
    return max(0, min(wanted, room))
