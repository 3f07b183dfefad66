"""A person's decision about an annotator (block, unblock, any status): logged, locks the status against the
automatic rules, and retroactive on the annotator's items."""

from __future__ import annotations

from django.db import transaction

from annotate.exceptions import ServiceError
from labeling.models import AnnotatorScore, Item, Lease, Project
from labeling.services.quality import rules
from labeling.services.quality.online import items_reevaluate

Status = AnnotatorScore.Status


def annotator_status_set(*, project: Project, user, status: str, by, reason: str) -> tuple[AnnotatorScore, list[int]]:
    """A person's decision (logged, locks the status against the automatic rules). Blocking or unblocking is
    retroactive: the annotator's items are re-decided at once. Returns (score, ids of items reopened)."""
    if status not in Status.values:
        raise ServiceError(f"Unknown status {status!r}.", code="invalid_status")
    reason = (reason or "").strip() or f"set to {status} by a reviewer"
    with transaction.atomic():
        # Items before the score, in id order: the order of votes and of the full re-aggregation (no deadlock).
        item_ids = list(
            Item.objects.select_for_update(of=("self",))
            .filter(project=project, annotations__user=user)
            .order_by("id")
            .values_list("id", flat=True)
        )
        score = rules.score_for(project=project, user_id=user.pk, lock=True)
        was_blocked = score.status == Status.BLOCKED
        rules.status_change(score=score, to=status, reason=reason, by=by, lock=True)
        if status == Status.BLOCKED:
            Lease.objects.filter(user=user, item__project=project).delete()
            if project.reward_cents:  # a paid project: the blocked author's answers are reversed (crowdpay)
                from crowdpay.services.ledger import earnings_reverse_blocked

                earnings_reverse_blocked(project=project, user_id=user.pk)
        reopened: list[int] = []
        if was_blocked != (status == Status.BLOCKED):
            reopened = items_reevaluate(project=project, item_ids=item_ids)
    return score, reopened


def annotator_block(*, project: Project, user, by, reason: str) -> tuple[AnnotatorScore, list[int]]:
    return annotator_status_set(project=project, user=user, status=Status.BLOCKED, by=by, reason=reason)


def annotator_unblock(*, project: Project, user, by, reason: str = "") -> tuple[AnnotatorScore, list[int]]:
    return annotator_status_set(project=project, user=user, status=Status.ACTIVE, by=by, reason=reason or "unblocked")
