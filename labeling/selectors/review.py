"""Reads for the review queue: which items wait for a reviewer and why, the model's opinion beside each, and
every vote with its annotator's standing."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import (
    Case,
    FloatField,
    IntegerField,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.utils.translation import gettext as _

from labeling.models import Annotation, AnnotatorScore, Item, ModelOpinion, Project
from labeling.services.quality.engine import blocked_user_ids

LOW_CONFIDENCE = 0.8  # done items below this are worth a second look
MODEL_DISAGREES = 0.9  # a model prediction at least this confident that disagrees with the label


def review_queue(*, project: Project) -> QuerySet[Item]:
    """Items needing review: status review (max votes, no consensus) first, then done items with a low
    posterior, then done items a model confidently disagrees with (a model's prediction, with_model_opinion);
    lowest confidence first within each group."""
    low = Q(status=Item.Status.DONE, confidence__lt=min(LOW_CONFIDENCE, project.confidence_target))
    # Items with a prediction, as one hashed set: the latest prediction's label, a subquery per row, ran for every
    # done item of the project (a million items: 1.5 s a page). review_items keeps those whose latest prediction
    # disagrees.
    predicted = ModelOpinion.objects.filter(source__in=PREDICTION_SOURCES, predicted__isnull=False)
    flagged = Q(status=Item.Status.DONE, pk__in=predicted.values("item_id"))
    qs = (
        with_model_opinion(Item.objects.filter(project=project, is_gold=False))
        .filter(Q(status=Item.Status.REVIEW) | low | flagged)
        .annotate(
            group=Case(
                When(status=Item.Status.REVIEW, then=Value(0.0)),
                When(low, then=Value(1.0)),
                default=Value(2.0),
                output_field=FloatField(),
            )
        )
        .select_related("image", "category")
        .order_by("group", "confidence", "id")
    )
    return qs


PREDICTION_SOURCES = (ModelOpinion.Source.RUN, ModelOpinion.Source.ZERO_SHOT)


def _latest_prediction(item_id: object = None) -> QuerySet[ModelOpinion]:
    """The item's predictions, newest first (`item_id` None: of the outer query's item, for a subquery)."""
    return ModelOpinion.objects.filter(
        item_id=OuterRef("pk") if item_id is None else item_id, source__in=PREDICTION_SOURCES
    ).order_by("-created_at", "-id")


def with_model_opinion(queryset: QuerySet[Item]) -> QuerySet[Item]:
    """Items annotated with the latest prediction of a model (a run's or the zero-shot classifier's), in the same
    statement: model_predicted (a label value), model_confidence, model_entropy."""
    latest = _latest_prediction()
    return queryset.annotate(
        model_predicted=Subquery(latest.values("predicted")[:1], output_field=IntegerField()),
        model_confidence=Subquery(latest.values("confidence")[:1], output_field=FloatField()),
        model_entropy=Subquery(latest.values("entropy")[:1], output_field=FloatField()),
    )


def model_opinion(item: Item) -> tuple[str, float] | None:
    """(label, probability) of the model's top class for the item (its latest prediction), or None. Reads
    with_model_opinion's annotation when the item was fetched with it, else one query."""
    if hasattr(item, "model_predicted"):
        predicted, confidence = item.model_predicted, getattr(item, "model_confidence", None)
    else:
        row = _latest_prediction(item.pk).values_list("predicted", "confidence").first()
        predicted, confidence = row if row is not None else (None, None)
    if predicted is None or confidence is None:
        return None
    return str(predicted), float(confidence)


def _model_disagrees(item: Item) -> bool:
    opinion = model_opinion(item)
    if opinion is None or item.label is None:
        return False
    top, p = opinion
    return top != str(item.label) and p >= MODEL_DISAGREES


def review_items(*, project: Project, limit: int = 50) -> list[Item]:
    """The first `limit` queue items (flagged-by-model ones only when the model really disagrees), with votes."""
    votes = Prefetch("annotations", queryset=Annotation.objects.select_related("user").order_by("id"))
    out = []
    queue = review_queue(project=project)
    # The page's ids first (the queue's order, no joins or model opinions in the select list), then those rows:
    # selected whole, every matching item was joined and its opinion read before the sort kept the first few.
    ids = list(queue.values_list("pk", flat=True)[: limit * 3])
    for item in queue.filter(pk__in=ids).prefetch_related(votes):
        if item.group == 2.0 and not _model_disagrees(item):
            continue
        if item.group == 0.0:
            item.reason = item.get_review_reason_display() or Item.ReviewReason.MAX_VOTES.label
        else:
            item.reason = _("low posterior") if item.group == 1.0 else _("model disagrees")
        out.append(item)
        if len(out) >= limit:
            break
    return out


@dataclass(frozen=True)
class VoterContext:
    """What the review rows need about the annotators of a page's votes, read once per page (not per item)."""

    scores: dict[int, AnnotatorScore]
    blocked: frozenset[int]


def voter_context(*, project_id: int, items: list[Item]) -> VoterContext:
    """Two queries whatever the number of items: their voters' scores, and the project's blocked annotators."""
    user_ids = {vote.user_id for item in items for vote in item.annotations.all()}
    scores = AnnotatorScore.objects.filter(project_id=project_id, user_id__in=user_ids) if user_ids else []
    return VoterContext({s.user_id: s for s in scores}, frozenset(blocked_user_ids(project_id)))


def review_item_votes(*, item: Item, context: VoterContext | None = None) -> list[dict]:
    """All votes of an item with each annotator's score (for the reviewer, never for volunteers). A page of
    items passes one `voter_context` for all of them (its query count must not grow with the page)."""
    context = context or voter_context(project_id=item.project_id, items=[item])
    rows = []
    for vote in item.annotations.all():
        s = context.scores.get(vote.user_id)
        rows.append(
            {
                "user": vote.user.username,
                "user_id": vote.user_id,
                "label": vote.label,
                "answer": vote.answer,
                "status": s.status if s else AnnotatorScore.Status.NEW,
                "ds_accuracy": s.ds_accuracy if s else None,
                "gold_accuracy": s.gold_accuracy if s else None,
                "counted": vote.user_id not in context.blocked,
            }
        )
    return rows
