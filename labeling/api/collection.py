"""Collection API: a project's runs (list, start), one run's report with per-source and per-query statistics,
and the queries a run would send (no fetch). Researchers of the project only; another project's run is a 404."""

from __future__ import annotations

from django.db import transaction
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotate.roles import HasRole, Role
from labeling.selectors.collection import query_stats, runs_for_project, source_stats
from labeling.selectors.projects import one_or_404, project_for_researcher
from labeling.services.collection.run import (
    collection_counts,
    collection_plan,
    collection_run_create,
    collection_start,
)
from labeling.services.collection.sources import SOURCES

RESEARCHER = [HasRole.of(Role.RESEARCHER)]


def run_report(run) -> dict:
    stats = query_stats(project=run.project, run=run)
    return {**collection_counts(run=run), "queries_done": run.queries_done, "sources": source_stats(stats),
            "query_stats": [s.as_dict() for s in stats]}  # fmt: skip


class CollectionRunsApi(APIView):
    permission_classes = RESEARCHER

    class InputSerializer(serializers.Serializer):
        sources = serializers.ListField(child=serializers.ChoiceField(choices=list(SOURCES)), required=False)
        per_category = serializers.IntegerField(min_value=1, max_value=10_000, default=100)

    @extend_schema(
        responses={200: {"type": "array", "items": {"type": "object"}}},  # a list of runs, newest first
        summary="A project's collection runs",
        operation_id="collect_runs_list",
    )
    def get(self, request: Request, slug: str) -> Response:
        project = project_for_researcher(request.user, slug)
        return Response([collection_counts(run=r) for r in runs_for_project(project=project)[:50]])

    @extend_schema(request=InputSerializer, responses={202: OpenApiTypes.OBJECT}, summary="Start a collection")
    def post(self, request: Request, slug: str) -> Response:
        project = project_for_researcher(request.user, slug)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        with transaction.atomic():
            run = collection_run_create(project=project, created_by=request.user, **data.validated_data)
            collection_start(run=run)
        return Response(collection_counts(run=run), status=status.HTTP_202_ACCEPTED)


class CollectionRunApi(APIView):
    permission_classes = RESEARCHER

    @extend_schema(
        responses=OpenApiTypes.OBJECT,
        summary="A run's progress and per-query statistics",
        operation_id="collect_run_retrieve",
    )
    def get(self, request: Request, slug: str, pk: int) -> Response:
        project = project_for_researcher(request.user, slug)
        run = one_or_404(runs_for_project(project=project), pk, what="collection run")
        return Response(run_report(run))


class CollectionQueriesApi(APIView):
    permission_classes = RESEARCHER

    @extend_schema(responses=OpenApiTypes.OBJECT, summary="The queries of every category (nothing fetched)")
    def get(self, request: Request, slug: str) -> Response:
        project = project_for_researcher(request.user, slug)
        return Response({"categories": [
            {"category": p.category.name, "wnid": p.category.wnid, "queries": [q.text for q in p.queries]}
            for p in collection_plan(project=project)
        ]})  # fmt: skip
