"""The one writer of model opinions (labeling.models.ModelOpinion) and the quality engine's read of model votes.

Each source (a training run, the zero-shot pretrained classifier, the label-error finder) keeps one row per
item; a new opinion of a source replaces that source's row, never another source's (the JSON bag this replaces
let the zero-shot pre-screen erase a trained run's vote and the label-error finder's note). The rows are
invalidated -- deleted -- when the project's categories change: their class ids would mean something else.
Callers bump the item's version themselves (quality.transitions), in the transaction that writes the opinion,
so that a re-aggregation that read the item before does not write its decision back.

The model vote an item's decision folds (engine.model_vote) is the most recent vote of any source.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from django.db import transaction
from django.db.models import BooleanField as BooleanFieldType
from django.db.models import JSONField, OuterRef, QuerySet, Subquery
from django.utils import timezone

from labeling.models import Item, ModelOpinion, Project
from labeling.services.quality.engine import StoredVote

S = ModelOpinion.Source
FIELDS = ["run", "class_ids", "probabilities", "predicted", "confidence", "entropy", "margin", "vote", "proven",
          "max_weight", "detail", "created_at"]  # fmt: skip


@dataclass(frozen=True)
class Opinion:
    """One opinion to write: `probabilities` over `class_ids` (label values); `vote` when it is a voter's."""

    item_id: int
    source: str
    class_ids: list[int]
    probabilities: list[float]
    run_id: int | None = None
    vote: list[float] | None = None
    proven: bool = False
    max_weight: float | None = None
    entropy: float | None = None
    margin: float | None = None
    detail: dict = field(default_factory=dict)


def model_opinions_write(*, opinions: Sequence[Opinion], keep: Sequence[str] = ()) -> int:
    """Upsert each opinion as its (item, source) row, replacing every field but those in `keep` (the voter keeps
    the prediction's entropy and margin). One statement."""
    now = timezone.now()
    rows = []
    for o in opinions:
        probs = [round(float(p), 6) for p in o.probabilities]
        best = int(np.argmax(probs)) if probs else None
        rows.append(ModelOpinion(
            item_id=o.item_id, source=o.source, run_id=o.run_id, class_ids=[int(c) for c in o.class_ids],
            probabilities=probs, predicted=None if best is None else int(o.class_ids[best]),
            confidence=None if best is None else probs[best], entropy=o.entropy, margin=o.margin,
            vote=None if o.vote is None else [round(float(v), 6) for v in o.vote], proven=bool(o.proven),
            max_weight=o.max_weight, detail=dict(o.detail), created_at=now,
        ))  # fmt: skip
    if rows:
        ModelOpinion.objects.bulk_create(rows, update_conflicts=True, unique_fields=["item", "source"],
                                         update_fields=[f for f in FIELDS if f not in keep])  # fmt: skip
    return len(rows)


REDECIDE_CHUNK = 2000  # items re-decided per transaction after an invalidation (rows locked at once)


def model_opinions_invalidate(*, project_id: int) -> int:
    """The project's categories changed (created, deleted, renamed, re-pointed to another synset): every
    opinion of its items is over a class space that no longer holds. The items a model vote helped finish
    (done, with a vote) are re-decided without it after commit, as a blocked voter's items are -- not left done
    until their next vote or re-aggregation. Returns how many rows went."""
    opinions = ModelOpinion.objects.filter(item__project_id=project_id)
    if not opinions.exists():  # the usual case (an import of a thousand categories calls this for each one)
        return 0
    voted = list(
        opinions.filter(vote__isnull=False, item__status=Item.Status.DONE, item__is_gold=False)
        .values_list("item_id", flat=True)
        .distinct()
    )
    deleted, _ = opinions.delete()
    if voted:
        transaction.on_commit(lambda: _redecide(project_id, sorted(voted)))
    return deleted


def _redecide(project_id: int, item_ids: list[int]) -> None:
    from labeling.services.quality.online import items_reevaluate
    from labeling.services.quality.transitions import Caller

    project = Project.objects.filter(pk=project_id).first()
    for start in range(0, len(item_ids) if project else 0, REDECIDE_CHUNK):
        items_reevaluate(project=project, item_ids=item_ids[start : start + REDECIDE_CHUNK], caller=Caller.RETRO)


# --- the read of the vote the decider folds


def _latest_vote() -> QuerySet:
    return ModelOpinion.objects.filter(item_id=OuterRef("pk"), vote__isnull=False).order_by("-created_at", "-id")


def with_model_vote(queryset: QuerySet) -> QuerySet:
    """Items annotated with their latest model vote (mv_classes, mv_vote, mv_proven), in the same statement:
    the vote path reads it with the rows it locks, at no extra query."""
    latest = _latest_vote()
    return queryset.annotate(
        mv_classes=Subquery(latest.values("class_ids")[:1], output_field=JSONField()),
        mv_vote=Subquery(latest.values("vote")[:1], output_field=JSONField()),
        mv_proven=Subquery(latest.values("proven")[:1], output_field=BooleanFieldType()),
    )


def stored_vote(item) -> StoredVote | None:
    """The item's latest model vote: from with_model_vote's annotation when the row was read with it, else read."""
    if hasattr(item, "mv_vote"):
        if item.mv_vote is None:
            return None
        return _stored(item.mv_classes, item.mv_vote, item.mv_proven)
    row = ModelOpinion.objects.filter(item_id=item.pk, vote__isnull=False).order_by("-created_at", "-id")
    found = row.values_list("class_ids", "vote", "proven").first()
    return None if found is None else _stored(*found)


def project_votes(*, project_id: int) -> dict[int, StoredVote]:
    """item id -> its latest model vote, for the project's non-gold items that have one (re-aggregation's read)."""
    out: dict[int, StoredVote] = {}
    rows = ModelOpinion.objects.filter(item__project_id=project_id, item__is_gold=False, vote__isnull=False)
    for item_id, classes, vote, proven in rows.order_by("created_at", "id").values_list(
        "item_id", "class_ids", "vote", "proven"
    ):
        out[item_id] = _stored(classes, vote, proven)  # the latest wins
    return out


def _stored(classes: object, vote: object, proven: object) -> StoredVote | None:
    if not isinstance(classes, list) or not isinstance(vote, list) or len(classes) != len(vote):
        return None
    return StoredVote(tuple(int(c) for c in classes), tuple(float(v) for v in vote), bool(proven))
