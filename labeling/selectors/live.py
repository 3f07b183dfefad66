"""Reads of the live quality loop (services/quality/triggers.py) for the reviewer's annotators page."""

from __future__ import annotations

from dataclasses import dataclass

from labeling.models import Annotation, AnnotatorAppeal, AnnotatorLiveStats, AnnotatorStatusChange, Project


@dataclass(frozen=True)
class LiveRow:
    """What the online rules counted of one annotator: agreement with gold or the consensus (k of n), for box
    projects the mean IoU of their boxes with the consensus, decisions faster than a person can make."""

    compared: int
    agreed: int
    agreement: float | None
    mean_iou: float | None
    fast: int
    decisions: int


def live_rows(*, project: Project) -> dict[int, LiveRow]:
    """user id -> LiveRow, one query."""
    rows = {}
    for s in AnnotatorLiveStats.objects.filter(project=project):
        boxes = project.task_type == Project.TaskType.BOXES
        rows[s.user_id] = LiveRow(
            compared=s.compared,
            agreed=s.agreed,
            agreement=s.agreed / s.compared if s.compared else None,
            mean_iou=(s.iou_sum / s.compared) if (boxes and s.compared) else None,
            fast=s.fast_decisions,
            decisions=s.decisions,
        )
    return rows


def block_reasons(*, project: Project) -> dict[int, str]:
    """user id -> the reason of their latest block (one query; the log is ordered newest first)."""
    reasons: dict[int, str] = {}
    for user_id, reason in AnnotatorStatusChange.objects.filter(project=project, to_status="blocked").values_list(
        "user_id", "reason"
    ):
        reasons.setdefault(user_id, reason)
    return reasons


def open_appeals(*, project: Project) -> dict[int, AnnotatorAppeal]:
    """user id -> their open appeal."""
    return {a.user_id: a for a in AnnotatorAppeal.objects.filter(project=project, resolved_at__isnull=True)}


def annotator_boxes(*, project: Project, user_id: int, limit: int = 60) -> list[Annotation]:
    """A box project's annotator's latest answers with their items' images and consensus, for the reviewer."""
    return list(
        Annotation.objects.filter(item__project=project, user_id=user_id)
        .select_related("item__image", "user")
        .order_by("-id")[:limit]
    )
