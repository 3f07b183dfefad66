"""Payout files: each worker's outstanding balance, in a marketplace's bulk-bonus format, recorded as paid.

Formats (amounts in the policy's currency, two decimals, from integer cents — no float anywhere):
* prolific — Prolific's bulk bonus box: one `<PROLIFIC_PID>,<amount>` line per participant, no header.
* mturk — one row per worker with the parameters of MTurk's SendBonus call: WorkerId, AssignmentId (the
  worker's last assignment, which SendBonus requires), BonusAmount, Reason and UniqueRequestToken (MTurk refuses a
  second bonus with the same token, so a file sent twice pays once).
* csv — every worker, wherever they came from: user_id, username, marketplace, worker_id, amount, currency, key.

Recording a payout writes one `payout:<payout id>:<user>` entry (negative) per worker in the same transaction
as the Payout row, so the next file holds only what was earned since. `record=False` previews without writing.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Sum

from crowdpay.models import EarningsEntry, MarketplaceSession, Payout, PayPolicy
from crowdpay.services.bonus import bonuses_award
from crowdpay.services.ledger import ledger_reconcile
from labeling.models import Project


@dataclass(frozen=True)
class PayoutLine:
    user_id: int
    username: str
    marketplace: str
    worker_id: str
    assignment_id: str
    cents: int


@dataclass(frozen=True)
class PayoutFile:
    payout: Payout | None
    text: str
    lines: list[PayoutLine]
    total_cents: int


def money(cents: int) -> str:
    return f"{(Decimal(cents) / 100).quantize(Decimal('0.01'))}"


def _lines(project: Project, fmt: str) -> list[PayoutLine]:
    balances = (
        EarningsEntry.objects.filter(project=project)
        .values("user_id")
        .annotate(b=Sum("amount_cents"))
        .filter(b__gt=0)
        .order_by("user_id")
    )
    sessions = {s.user_id: s for s in MarketplaceSession.objects.filter(project=project)}
    names = dict(get_user_model().objects.filter(pk__in=[b["user_id"] for b in balances]).values_list("pk", "username"))
    lines = []
    for row in balances:
        session = sessions.get(row["user_id"])
        market = session.marketplace if session else ""
        if fmt in (Payout.Format.PROLIFIC, Payout.Format.MTURK) and market != fmt:
            continue
        lines.append(PayoutLine(row["user_id"], names.get(row["user_id"], ""), market,
                                session.worker_id if session else "", session.session_id if session else "",
                                row["b"]))  # fmt: skip
    return lines


def _render(fmt: str, lines: list[PayoutLine], *, currency: str, project: Project, payout_id: int | None) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    if fmt == Payout.Format.MTURK:
        writer.writerow(["WorkerId", "AssignmentId", "BonusAmount", "Reason", "UniqueRequestToken"])
    elif fmt == Payout.Format.CSV:
        writer.writerow(["user_id", "username", "marketplace", "worker_id", "amount", "currency", "key"])
    for line in lines:
        key = f"payout:{payout_id or 'preview'}:{line.user_id}"
        if fmt == Payout.Format.PROLIFIC:
            writer.writerow([line.worker_id, money(line.cents)])
        elif fmt == Payout.Format.MTURK:
            reason = f"Annotate project {project.slug}: answers and quality bonuses"
            writer.writerow([line.worker_id, line.assignment_id, money(line.cents), reason,
                             f"annotate-{project.pk}-{payout_id or 'preview'}-{line.user_id}"])  # fmt: skip
        else:
            writer.writerow([line.user_id, line.username, line.marketplace, line.worker_id, money(line.cents),
                             currency, key])  # fmt: skip
    return out.getvalue()


def payout_create(*, project: Project, fmt: str, created_by=None, record: bool = True,
                  bonus_period: str | None = None) -> PayoutFile:  # fmt: skip
    """Settle the ledger (reversals, grids, the period's bonuses), then write the file of outstanding balances."""
    if fmt not in Payout.Format.values:
        raise ValueError(f"Unknown payout format {fmt!r}; use one of {', '.join(Payout.Format.values)}.")
    ledger_reconcile(project=project)
    bonuses_award(project=project, period=bonus_period)
    policy = PayPolicy.objects.filter(project=project).first()
    currency = policy.currency if policy else "GBP"
    with transaction.atomic():
        type(project).objects.select_for_update(no_key=True).get(pk=project.pk)  # one payout at a time per project
        lines = _lines(project, fmt)
        total = sum(line.cents for line in lines)
        payout = None
        if record and lines:
            payout = Payout.objects.create(project=project, format=fmt, created_by=created_by, total_cents=total,
                                           workers=len(lines))  # fmt: skip
            EarningsEntry.objects.bulk_create([
                EarningsEntry(project=project, user_id=line.user_id, kind=EarningsEntry.Kind.PAYOUT,
                              amount_cents=-line.cents, key=f"payout:{payout.pk}:{line.user_id}", payout=payout)
                for line in lines
            ])  # fmt: skip
        text = _render(fmt, lines, currency=currency, project=project, payout_id=payout.pk if payout else None)
    return PayoutFile(payout=payout, text=text, lines=lines, total_cents=total)
