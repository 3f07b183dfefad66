"""Reads of the curation browser (researchers and reviewers): one filtered item queryset shared by the HTML grid
and the API, and one item's full record (votes with their annotators' scores, posterior, history, cluster).

Filters come in as a `CurationFilters` parsed once from query parameters (`curation_filters_parse`), so the page
and the API accept exactly the same names and values.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from django.db.models import Exists, F, OuterRef, Q, QuerySet
from django.http import Http404
from django.utils.translation import gettext as _

from annotate.exceptions import ServiceError
from annotate.i18n import status_text
from annotate.inputs import InvalidParam, param_bool, param_enum, param_float, param_int, param_text
from labeling.models import Annotation, CurationAction, Image, Item, ModelOpinion, Project, ReviewAction
from labeling.selectors.review import model_opinion, review_item_votes, with_model_opinion

SORTS = {
    "id": ("id",),
    "-id": ("-id",),
    "posterior": (F("confidence").asc(nulls_first=True), "id"),
    "-posterior": (F("confidence").desc(nulls_last=True), "id"),
    "uncertainty": (F("model_entropy").desc(nulls_last=True), "id"),
    "votes": ("votes_count", "id"),
    "-votes": ("-votes_count", "id"),
}
PAGE_SIZES = (24, 48, 96, 200)


@dataclass(frozen=True)
class CurationFilters:
    """Every filter of the curation browser; None means "any"."""

    category: int | None = None  # the item's candidate category (verify, boxes)
    label: int | None = None  # the consensus label (verify 0/1; classify a category id, -1 none)
    min_posterior: float | None = None
    max_posterior: float | None = None
    status: str | None = None
    min_votes: int | None = None
    max_votes: int | None = None
    annotator: str | None = None  # username of someone who voted on the item
    gold: bool | None = None
    excluded: bool | None = None
    cluster: int | None = None  # near-duplicate cluster id (the canonical image's id)
    predicted: int | None = None  # the model's predicted label
    disagree: bool | None = None  # the model's prediction differs from the consensus label
    sort: str = "id"

    def as_query(self) -> dict[str, str]:
        """The filters back as query parameters (for pagination links); "any" values are left out."""
        out = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is None or (f.name == "sort" and value == "id"):
                continue
            out[f.name] = ("yes" if value else "no") if isinstance(value, bool) else str(value)
        return out


def curation_filters_parse(params: Mapping[str, Any]) -> CurationFilters:
    """Filters from query parameters (through annotate.inputs, the one parameter parser); a bad value is a
    ServiceError (code invalid_filter), never ignored."""
    try:
        return CurationFilters(
            category=param_int(params, "category"),
            label=param_int(params, "label"),
            min_posterior=param_float(params, "min_posterior", minimum=0.0, maximum=1.0),
            max_posterior=param_float(params, "max_posterior", minimum=0.0, maximum=1.0),
            status=param_enum(params, "status", Item.Status.values),
            min_votes=param_int(params, "min_votes"),
            max_votes=param_int(params, "max_votes"),
            annotator=param_text(params, "annotator", max_length=150),
            gold=param_bool(params, "gold"),
            excluded=param_bool(params, "excluded"),
            cluster=param_int(params, "cluster"),
            predicted=param_int(params, "predicted"),
            disagree=param_bool(params, "disagree"),
            sort=param_enum(params, "sort", SORTS, default="id"),
        )
    except InvalidParam as exc:
        raise ServiceError(exc.message, code="invalid_filter") from exc


def in_cluster(cluster: int) -> Q:
    """Items on an image of the near-duplicate cluster `cluster` (the canonical image's id): the cluster's image
    ids first (the image's key and its canonical index), then the items by their image index. An OR of
    `image_id` and the joined `image.canonical_id` could use neither index and read every item of the project
    (0.7 s for an item page at a million items)."""
    return Q(image_id__in=Image.objects.filter(Q(pk=cluster) | Q(canonical_id=cluster)).values("pk"))


def curation_items(*, project: Project, filters: CurationFilters) -> QuerySet[Item]:
    """The project's items matching `filters`, sorted, with image and category joined (one query per page)."""
    qs = with_model_opinion(Item.objects.filter(project=project).select_related("image", "category"))
    f = filters
    exact = {
        "category_id": f.category,
        "label": f.label,
        "status": f.status,
        "votes_count__gte": f.min_votes,
        "votes_count__lte": f.max_votes,
        "confidence__gte": f.min_posterior,
        "confidence__lte": f.max_posterior,
        "is_gold": f.gold,
        "excluded": f.excluded,
        "model_predicted": f.predicted,
    }
    qs = qs.filter(**{k: v for k, v in exact.items() if v is not None})
    if f.cluster is not None:
        qs = qs.filter(in_cluster(f.cluster))
    if f.annotator:
        voted = Annotation.objects.filter(item_id=OuterRef("pk"), user__username=f.annotator)
        qs = qs.filter(Exists(voted))
    if f.disagree is not None:
        differs = Q(model_predicted__isnull=False, label__isnull=False) & ~Q(model_predicted=F("label"))
        qs = qs.filter(differs) if f.disagree else qs.exclude(differs)
    return qs.order_by(*SORTS[f.sort])


@dataclass(frozen=True)
class Page:
    items: list[Item]
    number: int
    size: int
    total: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.size))

    @property
    def has_next(self) -> bool:
        return self.number < self.pages

    @property
    def has_previous(self) -> bool:
        return self.number > 1


def curation_page(*, project: Project, filters: CurationFilters, page: int = 1, size: int = 48) -> Page:
    """One page of `curation_items`: two queries (count, rows) whatever the page size.

    The page's ids are found first (a subquery: ids only, in the sort's order, OFFSET … LIMIT), then only those
    rows are read with their image, category and model opinion: with the whole row selected, every skipped row
    was joined and its opinion computed before OFFSET dropped it (the last page of 100k items: 1.2 s). A page in
    the second half is counted from the end, in the reverse order: OFFSET never walks more than half the items."""
    size = size if size in PAGE_SIZES else 48
    qs = curation_items(project=project, filters=filters)
    total = qs.count()
    pages = max(1, -(-total // size))
    number = min(max(1, page), pages)
    start = (number - 1) * size
    end = min(start + size, total)
    if start > total // 2:
        page_ids = qs.reverse().values("pk")[total - end : total - start]
    else:
        page_ids = qs.values("pk")[start:end]
    return Page(items=list(qs.filter(pk__in=page_ids)), number=number, size=size, total=total)


def curation_item(*, project: Project, item_id: int) -> Item:
    """One item of the project (404 otherwise), with image and category."""
    item = with_model_opinion(
        Item.objects.filter(project=project, pk=item_id).select_related("project", "image", "category")
    ).first()
    if item is None:
        raise Http404("No such item in this project.")
    return item


@dataclass(frozen=True)
class HistoryEvent:
    at: datetime
    kind: str  # vote | review | curation | created
    who: str
    text: str


def curation_item_history(*, item: Item, label_names: Mapping[int, str]) -> list[HistoryEvent]:
    """Votes, review actions and curator actions of one item, oldest first (three queries)."""

    def name(label: int | None) -> str:
        return "—" if label is None else label_names.get(label, str(label))

    events = [HistoryEvent(item.created_at, "created", "", _("item created"))]
    for vote in Annotation.objects.filter(item=item).select_related("user").order_by("created_at", "id"):
        text = _("voted %(label)s") % {"label": name(vote.label)}
        events.append(HistoryEvent(vote.created_at, "vote", vote.user.username, text))
    for r in ReviewAction.objects.filter(item=item).select_related("reviewer"):
        detail = _("%(action)s: %(previous)s → label %(label)s") % {
            "action": status_text(r.action),
            "previous": status_text(r.previous_status) if r.previous_status else "?",
            "label": name(r.label),
        }
        events.append(HistoryEvent(r.at, "review", r.reviewer.username if r.reviewer else "", detail))
    for c in CurationAction.objects.filter(item=item).select_related("user"):
        detail = c.get_action_display() + (f" ({name(c.label)})" if c.label is not None else "")
        detail += _(", was %(status)s") % {"status": status_text(c.previous_status)} if c.previous_status else ""
        events.append(HistoryEvent(c.at, "curation", c.user.username if c.user else "", detail))
    return sorted(events, key=lambda e: e.at)


def curation_item_votes(*, item: Item) -> list[dict]:
    """Every vote with its annotator's score (the reviewer's view, from selectors.review)."""
    return review_item_votes(item=Item.objects.prefetch_related("annotations__user").get(pk=item.pk))


def curation_cluster(*, item: Item, limit: int = 12) -> list[Item]:
    """Other items of the project on images of the same near-duplicate cluster (the "similar images")."""
    cluster = item.image.canonical_id or item.image_id
    return list(
        Item.objects.filter(project_id=item.project_id)
        .filter(in_cluster(cluster))
        .exclude(pk=item.pk)
        .select_related("image", "category")
        .order_by("id")[:limit]
    )


def curation_model_opinion(item: Item) -> tuple[str, float] | None:
    return model_opinion(item)


def curation_item_examples(*, item: Item) -> list[str]:
    """Names of the project's categories that show this item's image as an example to volunteers."""
    return list(
        item.image.example_of.filter(project_id=item.project_id).order_by("name").values_list("name", flat=True)
    )


def curation_item_opinions(*, item: Item) -> list[dict]:
    """Every model opinion of the item, newest first (reviewers and researchers only): source, run, the top
    class and the whole distribution, the vote the quality engine folds (if any), and the finder's facts."""
    rows = ModelOpinion.objects.filter(item_id=item.pk).order_by("-created_at", "-id")
    fields = ("source", "run_id", "predicted", "confidence", "entropy", "margin", "class_ids", "probabilities",
              "vote", "proven", "max_weight", "detail")  # fmt: skip
    return [{**{f: getattr(o, f) for f in fields}, "created_at": o.created_at.isoformat()} for o in rows]
