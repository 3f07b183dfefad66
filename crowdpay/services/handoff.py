"""Marketplace hand-off: a worker arriving from Prolific or MTurk gets a scoped account without the sign-up form,
and a completion code (Prolific) or a submit form (MTurk) once they have done the study's answers.

Prolific appends `PROLIFIC_PID`, `STUDY_ID`, `SESSION_ID` to the study URL; MTurk's ExternalQuestion appends
`workerId`, `assignmentId`, `hitId`, `turkSubmitTo` (assignmentId `ASSIGNMENT_ID_NOT_AVAILABLE` = a preview: no
account). The account is `<marketplace>-<hash of project and worker id>` with an unusable password (it cannot log
in anywhere; the session made here is its only way in) and the volunteer role; it is a member of this project
only. The same worker coming back gets the same account (unique per project, marketplace and worker id).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from annotate.exceptions import ServiceError
from annotate.roles import Role, role_assign
from crowdpay.models import EarningsEntry, MarketplaceSession, PayPolicy
from labeling.models import Annotation, Project

_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
PREVIEW = "ASSIGNMENT_ID_NOT_AVAILABLE"


@dataclass(frozen=True)
class Arrival:
    marketplace: str
    worker_id: str
    study_id: str
    session_id: str
    submit_to: str = ""


def arrival_parse(params) -> Arrival | None:
    """The marketplace ids in a query string, or None if it carries none. Odd ids are a ServiceError."""
    if params.get("PROLIFIC_PID"):
        fields = ("PROLIFIC_PID", "STUDY_ID", "SESSION_ID")
        market = MarketplaceSession.Marketplace.PROLIFIC
    elif params.get("workerId"):
        fields = ("workerId", "hitId", "assignmentId")
        market = MarketplaceSession.Marketplace.MTURK
    else:
        return None
    values = [str(params.get(f, "")) for f in fields]
    for name, value in zip(fields, values, strict=True):
        if not _ID.match(value):
            raise ServiceError(_("The link from the marketplace is incomplete (%(name)s).") % {"name": name},
                               code="invalid_marketplace_params")  # fmt: skip
    submit_to = str(params.get("turkSubmitTo", ""))[:200]
    return Arrival(market, values[0], values[1], values[2], submit_to)


def marketplace_arrive(*, project: Project, arrival: Arrival) -> MarketplaceSession:
    """The worker's session (and account), created on first arrival; the latest study/session ids kept."""
    policy = PayPolicy.objects.filter(project=project).first()
    enabled = policy is not None and (
        policy.prolific_enabled if arrival.marketplace == MarketplaceSession.Marketplace.PROLIFIC
        else policy.mturk_enabled
    )  # fmt: skip
    if not enabled:
        raise ServiceError(_("This project does not take workers from this marketplace."),
                           code="marketplace_disabled", status_code=403)  # fmt: skip
    if arrival.session_id == PREVIEW:
        raise ServiceError(_("Accept the HIT to start."), code="mturk_preview", status_code=403)
    existing = (
        MarketplaceSession.objects.filter(project=project, marketplace=arrival.marketplace, worker_id=arrival.worker_id)
        .select_related("user")
        .first()
    )
    if existing is None:
        try:
            with transaction.atomic():
                existing = _create(project=project, arrival=arrival)
        except IntegrityError:  # the same worker's second tab won the race
            existing = MarketplaceSession.objects.get(
                project=project, marketplace=arrival.marketplace, worker_id=arrival.worker_id
            )
    changed = [f for f in ("study_id", "session_id", "submit_to") if getattr(existing, f) != getattr(arrival, f)]
    for f in changed:
        setattr(existing, f, getattr(arrival, f))
    if changed:
        existing.save(update_fields=changed)
    return existing


def _create(*, project: Project, arrival: Arrival) -> MarketplaceSession:
    digest = hashlib.sha256(f"{project.pk}:{arrival.marketplace}:{arrival.worker_id}".encode()).hexdigest()[:16]
    user = get_user_model().objects.create_user(username=f"{arrival.marketplace}-{digest}", password=None)
    role_assign(user=user, role=Role.VOLUNTEER)
    project.members.add(user)
    return MarketplaceSession.objects.create(
        project=project, user=user, marketplace=arrival.marketplace, worker_id=arrival.worker_id,
        study_id=arrival.study_id, session_id=arrival.session_id, submit_to=arrival.submit_to,
    )  # fmt: skip


@dataclass(frozen=True)
class Completion:
    done: int
    needed: int
    complete: bool
    code: str
    redirect_url: str
    mturk_submit_url: str
    assignment_id: str


def marketplace_completion(*, session: MarketplaceSession) -> Completion:
    """Where the worker stands; marks the session completed the first time the answers are in."""
    policy = PayPolicy.objects.get(project_id=session.project_id)
    done = Annotation.objects.filter(item__project_id=session.project_id, user_id=session.user_id).count()
    reversed_ = EarningsEntry.objects.filter(
        project_id=session.project_id, user_id=session.user_id, kind=EarningsEntry.Kind.REVERSAL
    ).exists()
    complete = done >= policy.completion_answers and not reversed_
    if complete and session.completed_at is None:
        session.completed_at = timezone.now()
        session.save(update_fields=["completed_at"])
    code = policy.completion_code if complete else ""
    redirect = f"https://app.prolific.com/submissions/complete?cc={code}" if (
        complete and session.marketplace == MarketplaceSession.Marketplace.PROLIFIC) else ""  # fmt: skip
    submit = ""
    if complete and session.marketplace == MarketplaceSession.Marketplace.MTURK:
        base = session.submit_to.rstrip("/") if session.submit_to.startswith("https://") else ""
        submit = f"{base}/mturk/externalSubmit" if base else policy.mturk_submit_url
    return Completion(done, policy.completion_answers, complete, code, redirect, submit, session.session_id)
