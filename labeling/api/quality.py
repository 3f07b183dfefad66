"""Quality-control API for reviewers, project owners and admins (scoped: other projects are a 404).

Gold answers appear here only to these roles; nothing in this module is reachable by a plain volunteer.
"""

from __future__ import annotations

from dataclasses import asdict

from django.contrib.auth import get_user_model
from django.db import transaction
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotate.exceptions import NotFound
from annotate.inputs import param_int
from labeling.api.scoping import scoped_project
from labeling.models import AnnotatorScore, Item, Project
from labeling.selectors.projects import project_for_reviewer
from labeling.selectors.quality import annotator_scores, gold_accuracy_histogram, progress_by_category, quality_stats
from labeling.selectors.review import VoterContext, review_item_votes, review_items, voter_context
from labeling.services.quality import annotator_status_set
from labeling.services.quality.review import review_accept, review_fix, review_reject


def reviewer_project(request: Request, slug: str) -> Project:
    return scoped_project(project_for_reviewer, request.user, slug)


class VoteSerializer(serializers.Serializer):
    user = serializers.CharField()
    label = serializers.IntegerField(allow_null=True)
    answer = serializers.JSONField()
    status = serializers.CharField()
    ds_accuracy = serializers.FloatField(allow_null=True)
    gold_accuracy = serializers.FloatField(allow_null=True)
    counted = serializers.BooleanField()


class ReviewItemSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.CharField()
    reason = serializers.CharField()
    label = serializers.IntegerField(allow_null=True)
    confidence = serializers.FloatField(allow_null=True)
    posterior = serializers.JSONField(allow_null=True)
    answer = serializers.JSONField(allow_null=True, help_text="Box projects: the consensus boxes")
    category_id = serializers.IntegerField(allow_null=True)
    image_url = serializers.CharField()
    votes = VoteSerializer(many=True)


def review_item_payload(item: Item, context: VoterContext | None = None) -> dict:
    return {
        "id": item.id,
        "status": item.status,
        "reason": getattr(item, "reason", ""),
        "label": item.label,
        "confidence": item.confidence,
        "posterior": item.posterior,
        "answer": item.answer,
        "category_id": item.category_id,
        "image_url": f"/media/image/{item.image.sha256}",
        "votes": review_item_votes(item=item, context=context),
    }


class ReviewQueueApi(APIView):
    @extend_schema(responses=ReviewItemSerializer(many=True), summary="Items needing review, with votes and scores")
    def get(self, request: Request, slug: str) -> Response:
        project = reviewer_project(request, slug)
        items = review_items(project=project, limit=50)
        context = voter_context(project_id=project.pk, items=items)
        return Response(ReviewItemSerializer([review_item_payload(i, context) for i in items], many=True).data)


class ReviewActionApi(APIView):
    class InputSerializer(serializers.Serializer):
        action = serializers.ChoiceField(choices=["accept", "reject", "fix"])
        label = serializers.IntegerField(required=False, allow_null=True)
        boxes = serializers.JSONField(
            required=False,
            allow_null=True,
            help_text="Box projects, fix: the corrected boxes, [[x, y, w, h], ...] or (detection) "
            '[{"x", "y", "w", "h", "category"}, ...]; they become the gold answer and the consensus.',
        )

    class OutputSerializer(serializers.Serializer):
        id = serializers.IntegerField()
        status = serializers.CharField()
        label = serializers.IntegerField(allow_null=True)
        is_gold = serializers.BooleanField()

    @extend_schema(request=InputSerializer, responses=OutputSerializer, summary="Accept, reject or fix an item")
    def post(self, request: Request, slug: str, item_id: int) -> Response:
        project = reviewer_project(request, slug)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        item = Item.objects.filter(project=project, pk=item_id).select_related("project").first()
        if item is None:
            raise NotFound("No such item in this project.", code="item_not_found")
        action = data.validated_data["action"]
        if action == "accept":
            item = review_accept(item=item, reviewer=request.user)
        elif action == "reject":
            item = review_reject(item=item, reviewer=request.user)
        else:
            d = data.validated_data
            item = review_fix(item=item, label=d.get("label"), boxes=d.get("boxes"), reviewer=request.user)
        return Response(self.OutputSerializer(item).data)


class AnnotatorListApi(APIView):
    class OutputSerializer(serializers.Serializer):
        user_id = serializers.IntegerField()
        username = serializers.CharField(source="user.username")
        status = serializers.CharField()
        status_locked = serializers.BooleanField()
        gold_seen = serializers.IntegerField()
        gold_correct = serializers.IntegerField()
        gold_accuracy = serializers.FloatField(allow_null=True)
        gold_wilson_low = serializers.FloatField(allow_null=True)
        gold_wilson_high = serializers.FloatField(allow_null=True)
        ds_accuracy = serializers.FloatField(allow_null=True, help_text="Same as estimated_accuracy (older name).")
        estimated_accuracy = serializers.FloatField(
            source="ds_accuracy", allow_null=True, help_text="The aggregation model's estimate of their accuracy."
        )
        estimated_low = serializers.FloatField(source="ds_accuracy_low", allow_null=True, help_text="95 % interval")
        estimated_high = serializers.FloatField(source="ds_accuracy_high", allow_null=True)
        evidence = serializers.IntegerField(help_text="Their labels on items someone else also answered, or gold.")
        agreement = serializers.FloatField(allow_null=True)
        median_time_ms = serializers.FloatField(allow_null=True)
        volume = serializers.IntegerField()
        skips = serializers.IntegerField()
        skip_rate = serializers.FloatField(allow_null=True)
        weight = serializers.FloatField()

    @extend_schema(responses=OutputSerializer(many=True), summary="Annotators of the project with their scores")
    def get(self, request: Request, slug: str) -> Response:
        project = reviewer_project(request, slug)
        return Response(self.OutputSerializer(annotator_scores(project=project)[:1000], many=True).data)


class AnnotatorStatusApi(APIView):
    class InputSerializer(serializers.Serializer):
        status = serializers.ChoiceField(choices=AnnotatorScore.Status.choices)
        reason = serializers.CharField(max_length=500, required=False, allow_blank=True)

    class OutputSerializer(serializers.Serializer):
        user_id = serializers.IntegerField()
        status = serializers.CharField()
        reopened = serializers.ListField(child=serializers.IntegerField())

    @extend_schema(request=InputSerializer, responses=OutputSerializer, summary="Block, unblock or override status")
    def post(self, request: Request, slug: str, user_id: int) -> Response:
        project = reviewer_project(request, slug)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = get_user_model().objects.filter(pk=user_id, annotator_scores__project=project).first()
        if user is None:
            raise NotFound("No such annotator in this project.", code="annotator_not_found")
        with transaction.atomic():
            score, reopened = annotator_status_set(
                project=project,
                user=user,
                status=data.validated_data["status"],
                by=request.user,
                reason=data.validated_data.get("reason", ""),
            )
        return Response(self.OutputSerializer({"user_id": user.pk, "status": score.status, "reopened": reopened}).data)


class GroupStatsSerializer(serializers.Serializer):
    key = serializers.IntegerField(allow_null=True)
    name = serializers.CharField()
    items = serializers.IntegerField()
    votes = serializers.IntegerField()
    fleiss_kappa = serializers.FloatField(allow_null=True)
    krippendorff_alpha = serializers.FloatField(allow_null=True)
    vote_distribution = serializers.DictField(child=serializers.IntegerField())
    mean_posterior = serializers.FloatField(allow_null=True)
    labels_per_accepted_item = serializers.FloatField(allow_null=True)
    status_counts = serializers.DictField(child=serializers.IntegerField())
    posterior_histogram = serializers.ListField(child=serializers.IntegerField())
    budget_forecast = serializers.IntegerField()


class QualityStatsApi(APIView):
    class OutputSerializer(serializers.Serializer):
        class BinSerializer(serializers.Serializer):
            low = serializers.FloatField()
            high = serializers.FloatField()
            count = serializers.IntegerField()

        overall = GroupStatsSerializer()
        categories = GroupStatsSerializer(many=True)

        class ProgressSerializer(serializers.Serializer):
            key = serializers.IntegerField(allow_null=True, help_text="Category id (verify) or label (classify).")
            name = serializers.CharField()
            open = serializers.IntegerField(help_text="No vote yet.")
            needs_more = serializers.IntegerField(help_text="Voted, not yet confident enough.")
            in_review = serializers.IntegerField()
            done = serializers.IntegerField(help_text="Done or accepted.")
            rejected = serializers.IntegerField()
            total = serializers.IntegerField()

        class SampleSerializer(serializers.Serializer):
            items = serializers.IntegerField(help_text="Items the statistics were computed on.")
            of = serializers.IntegerField(help_text="Items in the project: counts are scaled to it.")

        prior_accuracy = serializers.FloatField()
        sample = SampleSerializer(
            allow_null=True, help_text="Set when the statistics come from a fixed sample of a large project's items."
        )

        class CategoriesPageSerializer(serializers.Serializer):
            page = serializers.IntegerField(help_text="This page of categories, from 1 (?page=).")
            pages = serializers.IntegerField()
            of = serializers.IntegerField(help_text="Categories in all.")

        categories_page = CategoriesPageSerializer(
            help_text="`categories` holds one page of at most 50 categories (a 1,000-category project: 20 pages)."
        )
        gold_accuracy_histogram = BinSerializer(many=True)
        progress = ProgressSerializer(many=True, help_text="Per category, then a last row named 'all'.")

    @extend_schema(
        responses=OutputSerializer,
        summary="Agreement statistics and budget forecast",
        parameters=[OpenApiParameter("page", type=int, required=False, description="Page of categories, from 1.")],
    )
    def get(self, request: Request, slug: str) -> Response:
        project = reviewer_project(request, slug)
        stats = quality_stats(project=project, page=param_int(request.query_params, "page", default=1, minimum=1))
        return Response(
            self.OutputSerializer(
                {
                    "overall": asdict(stats["overall"]),
                    "categories": [asdict(g) for g in stats["categories"]],
                    "categories_page": stats["categories_page"],
                    "prior_accuracy": stats["prior_accuracy"],
                    "sample": stats["sample"],
                    "gold_accuracy_histogram": gold_accuracy_histogram(project=project),
                    "progress": progress_by_category(project=project),
                }
            ).data
        )
