"""The earnings ledger: append-only, one entry per paid event, made idempotent by its unique key.

Invariant (tests/crowdpay/test_ledger_concurrency.py): for every worker and project, the sum of the earning
entries (all kinds but payouts) equals reward x accepted answers (or reward x completed grids) + bonuses, to the
cent, however many times a request is retried or a worker killed: an answer's entry is inserted in the
transaction that stores the answer, and its key (`answer:<annotation id>`) can exist once.

Accepted answer = a stored answer whose author is not blocked. When an author is blocked, each of their credited
answers gets a `reversal:<annotation id>` entry (negative, once). Blocks found at vote time (a gold answer that
blocks) reverse in the same transaction; blocks decided elsewhere (a reviewer, a re-aggregation) are reversed by
`ledger_reconcile`, which payouts, the budget and the pay page run first. A reversal is final: a worker unblocked
later keeps earning for new answers only.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import transaction
from django.db.models import Count, Q, Sum

from crowdpay.models import EarningsEntry, PayPolicy
from labeling.models import Annotation, AnnotatorScore, Project

Kind = EarningsEntry.Kind
EARNING_KINDS = (Kind.ANSWER, Kind.GRID, Kind.REVERSAL, Kind.GRID_REVERSAL, Kind.BONUS)


def grid_size_of(project: Project) -> int:
    policy = PayPolicy.objects.filter(project=project).only("grid_size").first()
    return policy.grid_size if policy else 0


def earnings_record_answers(
    *, project: Project, user_id: int, annotation_ids: Iterable[int], author_blocked: bool = False
) -> None:
    """Credit newly stored answers (called inside the transaction that stores them; a no-op for unpaid
    projects). `author_blocked`: the batch's gold answer blocked the author, so everything is reversed."""
    ids = sorted(annotation_ids)
    if not project.reward_cents or not ids:
        return
    grid = grid_size_of(project)
    amount = 0 if grid else project.reward_cents
    rows = [
        EarningsEntry(project=project, user_id=user_id, kind=Kind.ANSWER, amount_cents=amount,
                      key=f"answer:{pk}", annotation_id=pk)
        for pk in ids
    ]  # fmt: skip
    EarningsEntry.objects.bulk_create(rows, ignore_conflicts=True)
    if author_blocked:
        _reverse_user(project=project, user_id=user_id, grid=grid)
    elif grid:
        _grids_settle(project=project, user_id=user_id, grid=grid)


def _accepted(project: Project, user_id: int) -> int:
    """Credited answers not reversed."""
    counts = EarningsEntry.objects.filter(project=project, user_id=user_id).aggregate(
        a=Count("id", filter=Q(kind=Kind.ANSWER)), r=Count("id", filter=Q(kind=Kind.REVERSAL))
    )
    return (counts["a"] or 0) - (counts["r"] or 0)


def _grids_settle(*, project: Project, user_id: int, grid: int) -> None:
    """Grid mode: exactly floor(accepted / grid) grids paid, net of grid reversals (idempotent keys)."""
    complete = _accepted(project, user_id) // grid
    rows = [
        EarningsEntry(project=project, user_id=user_id, kind=Kind.GRID, amount_cents=project.reward_cents,
                      key=f"grid:{project.pk}:{user_id}:{k}")
        for k in range(1, complete + 1)
    ]  # fmt: skip
    EarningsEntry.objects.bulk_create(rows, ignore_conflicts=True)
    paid = set(
        EarningsEntry.objects.filter(project=project, user_id=user_id, kind=Kind.GRID).values_list("key", flat=True)
    )
    reversed_keys = set(
        EarningsEntry.objects.filter(project=project, user_id=user_id, kind=Kind.GRID_REVERSAL).values_list(
            "key", flat=True
        )
    )
    rows = []
    for key in paid:
        k = int(key.rsplit(":", 1)[1])
        rev = f"grid_reversal:{project.pk}:{user_id}:{k}"
        if k > complete and rev not in reversed_keys:
            rows.append(EarningsEntry(project=project, user_id=user_id, kind=Kind.GRID_REVERSAL,
                                      amount_cents=-project.reward_cents, key=rev))  # fmt: skip
    EarningsEntry.objects.bulk_create(rows, ignore_conflicts=True)


def _reverse_user(*, project: Project, user_id: int, grid: int) -> int:
    """Reverse every credited answer of a blocked author not yet reversed. Returns how many were reversed."""
    credited = EarningsEntry.objects.filter(project=project, user_id=user_id, kind=Kind.ANSWER)
    done = set(
        EarningsEntry.objects.filter(project=project, user_id=user_id, kind=Kind.REVERSAL).values_list(
            "annotation_id", flat=True
        )
    )
    rows = [
        EarningsEntry(project=project, user_id=user_id, kind=Kind.REVERSAL, amount_cents=-amount,
                      key=f"reversal:{pk}", annotation_id=pk, note="author blocked")
        for pk, amount in credited.values_list("annotation_id", "amount_cents")
        if pk not in done
    ]  # fmt: skip
    EarningsEntry.objects.bulk_create(rows, ignore_conflicts=True)
    if grid:
        _grids_settle(project=project, user_id=user_id, grid=grid)
    return len(rows)


def earnings_reverse_blocked(*, project: Project, user_id: int) -> int:
    """A reviewer blocked the author: reverse their credited answers (in the caller's transaction)."""
    if not project.reward_cents:
        return 0
    return _reverse_user(project=project, user_id=user_id, grid=grid_size_of(project))


def ledger_reconcile(*, project: Project) -> int:
    """Bring the ledger in line with decisions taken elsewhere: reversals for blocked authors, grids settled.
    Idempotent; returns the number of answers reversed."""
    if not project.reward_cents:
        return 0
    grid = grid_size_of(project)
    blocked = AnnotatorScore.objects.filter(project=project, status=AnnotatorScore.Status.BLOCKED)
    reversed_total = 0
    with transaction.atomic():
        for user_id in blocked.values_list("user_id", flat=True):
            reversed_total += _reverse_user(project=project, user_id=user_id, grid=grid)
        if grid:
            users = EarningsEntry.objects.filter(project=project, kind=Kind.ANSWER).values_list("user_id", flat=True)
            for user_id in set(users):
                _grids_settle(project=project, user_id=user_id, grid=grid)
    return reversed_total


def earnings_backfill(*, project: Project) -> int:
    """Credit answers stored before the project was paid, or by a path that did not credit them. Idempotent."""
    if not project.reward_cents:
        return 0
    rows = Annotation.objects.filter(item__project=project).values_list("id", "user_id")
    by_user: dict[int, list[int]] = {}
    for pk, user_id in rows:
        by_user.setdefault(user_id, []).append(pk)
    before = EarningsEntry.objects.filter(project=project, kind=Kind.ANSWER).count()
    with transaction.atomic():
        for user_id, ids in by_user.items():
            earnings_record_answers(project=project, user_id=user_id, annotation_ids=ids)
    return EarningsEntry.objects.filter(project=project, kind=Kind.ANSWER).count() - before


def earned_cents(*, project: Project, user_id: int | None = None) -> int:
    qs = EarningsEntry.objects.filter(project=project, kind__in=EARNING_KINDS)
    if user_id is not None:
        qs = qs.filter(user_id=user_id)
    return qs.aggregate(s=Sum("amount_cents"))["s"] or 0
