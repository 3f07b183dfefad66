"""Telling a blocked volunteer why, and their appeal to the reviewers (design: live.md, "Telling the person").

The block itself is the live loop's (triggers.annotator_block) or a reviewer's (overrides.py); this module only
reads it back for the volunteer's page and API, and keeps their one open note to the reviewers.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from annotate.exceptions import ServiceError
from labeling.models import AnnotatorAppeal, AnnotatorScore, AnnotatorStatusChange, Project

Status = AnnotatorScore.Status


@dataclass(frozen=True)
class BlockNotice:
    """Why the volunteer may no longer label in a project, and whether they already asked a reviewer."""

    reason: str
    since: object
    appealed: bool


def annotator_block_notice(*, project: Project, user) -> BlockNotice | None:
    """The volunteer's block in this project (None when they may label): the logged reason, and their open
    appeal if any. Two small reads, only for a blocked volunteer's page."""
    if not AnnotatorScore.objects.filter(project=project, user=user, status=Status.BLOCKED).exists():
        return None
    change = AnnotatorStatusChange.objects.filter(project=project, user=user, to_status=Status.BLOCKED).first()
    appealed = AnnotatorAppeal.objects.filter(project=project, user=user, resolved_at__isnull=True).exists()
    return BlockNotice(reason=change.reason if change else "", since=change.at if change else None, appealed=appealed)


MAX_APPEAL_CHARS = 2000


def appeal_submit(*, project: Project, user, text: str) -> AnnotatorAppeal:
    """A blocked volunteer asks the reviewers to look again (one open note per person; a second one replaces
    the text). The reviewers see it on the annotators page."""
    text = (text or "").strip()
    if not text:
        raise ServiceError(_("Say in a few words why we should look again."), code="appeal_empty")
    if len(text) > MAX_APPEAL_CHARS:
        raise ServiceError(_("At most %(n)s characters.") % {"n": MAX_APPEAL_CHARS}, code="appeal_too_long")
    if not AnnotatorScore.objects.filter(project=project, user=user, status=Status.BLOCKED).exists():
        raise ServiceError(_("You are not blocked in this project."), code="not_blocked", status_code=409)
    with transaction.atomic():
        appeal = (
            AnnotatorAppeal.objects.select_for_update()
            .filter(project=project, user=user, resolved_at__isnull=True)
            .first()
        )
        if appeal is None:
            return AnnotatorAppeal.objects.create(project=project, user=user, text=text)
        appeal.text = text
        appeal.save(update_fields=["text"])
        return appeal


def appeals_resolve(*, project: Project, user) -> int:
    """Close the volunteer's open appeal (a reviewer looked: unblocked or kept blocked)."""
    return AnnotatorAppeal.objects.filter(project=project, user=user, resolved_at__isnull=True).update(
        resolved_at=timezone.now()
    )
