"""Curation API (researchers and reviewers of the project; other projects are a 404): the same filters as the
item grid (labeling.selectors.curation), one item with votes and history, and the bulk actions."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotate.inputs import BIGINT_MAX, param_int
from annotate.roles import HasRole, Role
from labeling.api.quality import VoteSerializer, reviewer_project
from labeling.models import Item
from labeling.selectors.curation import (
    curation_filters_parse,
    curation_item,
    curation_item_history,
    curation_item_opinions,
    curation_item_votes,
    curation_page,
)
from labeling.services.curation import (
    items_mark_gold,
    items_send_to_review,
    items_set_examples,
    items_set_excluded,
)
from labeling.services.quality.review import review_choices

CURATION_ROLES = HasRole.of(Role.REVIEWER, Role.RESEARCHER, Role.ADMIN)
FILTER_PARAMETERS = [
    OpenApiParameter(name, type=kind, required=False, description=text)
    for name, kind, text in (
        ("category", int, "Candidate category id (verify, boxes)."),
        ("label", int, "Consensus label (verify 0/1; classify a category id, -1 none)."),
        ("min_posterior", float, "Posterior of the consensus at least this (0..1)."),
        ("max_posterior", float, "Posterior of the consensus at most this (0..1)."),
        ("status", str, "open, done, review, accepted or rejected."),
        ("min_votes", int, "At least this many votes."),
        ("max_votes", int, "At most this many votes."),
        ("annotator", str, "Username of someone who voted on the item."),
        ("gold", str, "yes or no."),
        ("excluded", str, "yes or no: excluded from new dataset versions."),
        ("cluster", int, "Near-duplicate cluster id (the canonical image's id)."),
        ("predicted", int, "The model's predicted label."),
        ("disagree", str, "yes or no: the model's prediction differs from the consensus label."),
        ("sort", str, "id, -id, posterior, -posterior, uncertainty (model entropy, highest first), votes, -votes."),
        ("page", int, "Page number, from 1."),
        ("size", int, "Page size: 24, 48, 96 or 200."),
    )
]


class ItemOutput(serializers.Serializer):
    id = serializers.IntegerField()
    image_sha256 = serializers.CharField(source="image.sha256")
    image_url = serializers.SerializerMethodField()
    thumbnail_url = serializers.SerializerMethodField()
    cluster_id = serializers.IntegerField(source="image.cluster_id")
    category_id = serializers.IntegerField(allow_null=True)
    status = serializers.CharField()
    review_reason = serializers.CharField()
    label = serializers.IntegerField(allow_null=True)
    confidence = serializers.FloatField(allow_null=True)
    posterior = serializers.JSONField(allow_null=True)
    votes_count = serializers.IntegerField()
    is_gold = serializers.BooleanField()
    gold_label = serializers.IntegerField(allow_null=True)
    excluded = serializers.BooleanField()
    model_predicted = serializers.IntegerField(allow_null=True)
    model_entropy = serializers.FloatField(allow_null=True)

    def get_image_url(self, item: Item) -> str:
        return f"/media/image/{item.image.sha256}"

    def get_thumbnail_url(self, item: Item) -> str:
        return f"/media/thumb/{item.image.sha256}"


class CurationItemListApi(APIView):
    permission_classes = [CURATION_ROLES]

    class OutputSerializer(serializers.Serializer):
        count = serializers.IntegerField()
        page = serializers.IntegerField()
        pages = serializers.IntegerField()
        size = serializers.IntegerField()
        results = ItemOutput(many=True)

    @extend_schema(
        operation_id="curation_items_list",
        parameters=FILTER_PARAMETERS,
        responses=OutputSerializer,
        summary="Browse a project's items",
    )
    def get(self, request: Request, slug: str) -> Response:
        project = reviewer_project(request, slug)
        filters = curation_filters_parse(request.query_params)
        page = curation_page(
            project=project,
            filters=filters,
            page=param_int(request.query_params, "page", default=1, minimum=1),
            size=param_int(request.query_params, "size", default=48, minimum=1),
        )
        data = {"count": page.total, "page": page.number, "pages": page.pages, "size": page.size,
                "results": page.items}  # fmt: skip
        return Response(self.OutputSerializer(data).data)


class CurationItemDetailApi(APIView):
    permission_classes = [CURATION_ROLES]

    class HistorySerializer(serializers.Serializer):
        at = serializers.DateTimeField()
        kind = serializers.CharField()
        who = serializers.CharField()
        text = serializers.CharField()

    class OutputSerializer(ItemOutput):
        votes = VoteSerializer(many=True)
        history = serializers.ListField(child=serializers.DictField())
        model_opinions = serializers.ListField(child=serializers.DictField(), source="opinions")

    @extend_schema(
        operation_id="curation_item_retrieve",
        responses=OutputSerializer,
        summary="One item with its votes, annotator scores and history",
    )
    def get(self, request: Request, slug: str, item_id: int) -> Response:
        project = reviewer_project(request, slug)
        item = curation_item(project=project, item_id=item_id)
        item.opinions = curation_item_opinions(item=item)
        names = dict(review_choices(project=project))
        item.votes = curation_item_votes(item=item)
        item.history = [self.HistorySerializer(e).data for e in curation_item_history(item=item, label_names=names)]
        return Response(self.OutputSerializer(item).data)


class CurationBulkApi(APIView):
    permission_classes = [CURATION_ROLES]

    class InputSerializer(serializers.Serializer):
        action = serializers.ChoiceField(
            choices=["review", "gold", "ungold", "exclude", "include", "example", "unexample"]
        )
        items = serializers.ListField(child=serializers.IntegerField(min_value=1, max_value=BIGINT_MAX), min_length=1,
                                      max_length=1000)  # fmt: skip
        label = serializers.IntegerField(required=False, allow_null=True, min_value=-1, max_value=BIGINT_MAX)

    class OutputSerializer(serializers.Serializer):
        action = serializers.CharField()
        changed = serializers.ListField(child=serializers.IntegerField())
        unchanged = serializers.ListField(child=serializers.IntegerField())

    @extend_schema(
        operation_id="curation_items_bulk",
        request=InputSerializer,
        responses=OutputSerializer,
        summary="Bulk action on items",
    )
    def post(self, request: Request, slug: str) -> Response:
        project = reviewer_project(request, slug)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        action, ids = data.validated_data["action"], data.validated_data["items"]
        if action == "review":
            result = items_send_to_review(project=project, item_ids=ids, user=request.user)
        elif action in ("gold", "ungold"):
            label = data.validated_data.get("label")
            if action == "gold" and label is None:
                raise serializers.ValidationError({"label": ["Marking as gold needs a label."]})
            result = items_mark_gold(project=project, item_ids=ids, label=label if action == "gold" else None,
                                     user=request.user)  # fmt: skip
        elif action in ("exclude", "include"):
            result = items_set_excluded(project=project, item_ids=ids, excluded=action == "exclude", user=request.user)
        else:
            result = items_set_examples(project=project, item_ids=ids, example=action == "example", user=request.user)
        return Response(self.OutputSerializer(result).data)


__all__ = ["CurationItemDetailApi", "CurationItemListApi"]
