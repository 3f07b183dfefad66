"""Ingest API: batches (upload / archive / URL list), batch status, project images, categories.

Researcher role only; every object is looked up inside the researcher's own projects (else 404).
Folder sources name server paths and are CLI-only.
"""

from __future__ import annotations

from django.urls import reverse
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotate.exceptions import ServiceError
from annotate.inputs import BIGINT_MAX
from annotate.pagination import MAX_OFFSET
from annotate.parsers import JSONParser
from annotate.roles import HasRole, Role
from labeling.selectors.projects import project_for_researcher
from labeling.services.categories import categories_import, category_delete, category_update
from labeling.services.ingestion import batch_report, batch_retry
from labeling.services.ingestion.selectors import (
    IMAGE_ORDERINGS,
    batch_for_researcher,
    batch_rejections,
    category_for_project,
    image_sources_for_project,
)
from labeling.services.ingestion.uploads import batch_start_from_uploads
from labeling.services.projects import category_upsert

RESEARCHER = [HasRole.of(Role.RESEARCHER)]


class BatchOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField()
    status = serializers.CharField()
    total = serializers.IntegerField()
    processed = serializers.IntegerField()
    ingested = serializers.IntegerField()
    duplicates = serializers.IntegerField()
    near_duplicates = serializers.IntegerField()
    rejected = serializers.IntegerField()
    error = serializers.CharField()
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)


class BatchListCreateApi(APIView):
    permission_classes = RESEARCHER
    parser_classes = [MultiPartParser, FormParser]

    class BatchUploadInputSerializer(serializers.Serializer):
        kind = serializers.ChoiceField(choices=["upload", "archive", "urls"])
        files = serializers.ListField(child=serializers.FileField(), allow_empty=False)
        category = serializers.CharField(max_length=200, required=False, allow_blank=True)

    @extend_schema(responses=BatchOutputSerializer(many=True), summary="A project's ingest batches")
    def get(self, request: Request, slug: str) -> Response:
        project = project_for_researcher(request.user, slug)
        batches = project.ingest_batches.order_by("-id")[:200]
        return Response(BatchOutputSerializer(batches, many=True).data)

    @extend_schema(
        request=BatchUploadInputSerializer, responses={201: BatchOutputSerializer}, summary="Start an ingest batch"
    )
    def post(self, request: Request, slug: str) -> Response:
        project = project_for_researcher(request.user, slug)
        data = {
            "kind": request.data.get("kind"),
            "files": request.FILES.getlist("files") or request.FILES.getlist("file"),
            "category": request.data.get("category", ""),
        }
        serializer = self.BatchUploadInputSerializer(data=data)
        serializer.is_valid(raise_exception=True)
        v = serializer.validated_data
        batch = batch_start_from_uploads(
            project=project, kind=v["kind"], files=v["files"], category=v.get("category", ""), created_by=request.user
        )
        return Response(BatchOutputSerializer(batch).data, status=status.HTTP_201_CREATED)


class BatchDetailApi(APIView):
    permission_classes = RESEARCHER

    class OutputSerializer(BatchOutputSerializer):
        project = serializers.CharField(source="project.slug")
        report = serializers.DictField()
        errors = serializers.ListField(child=serializers.DictField())

    @extend_schema(responses=OutputSerializer, summary="Batch status, counts and rejected inputs")
    def get(self, request: Request, pk: int) -> Response:
        batch = batch_for_researcher(request.user, pk)
        batch.report = batch_report(batch=batch)
        batch.errors = [
            {"key": e.key, "code": e.reason_code, "message": e.message} for e in batch_rejections(batch, limit=200)
        ]
        return Response(self.OutputSerializer(batch).data)


class BatchRetryApi(APIView):
    permission_classes = RESEARCHER

    @extend_schema(request=None, responses={202: BatchOutputSerializer}, summary="Queue a failed batch again")
    def post(self, request: Request, pk: int) -> Response:
        batch = batch_retry(batch=batch_for_researcher(request.user, pk))
        return Response(BatchOutputSerializer(batch).data, status=status.HTTP_202_ACCEPTED)


class ImageListApi(APIView):
    permission_classes = RESEARCHER

    class FilterSerializer(serializers.Serializer):
        category = serializers.IntegerField(required=False, min_value=1, max_value=BIGINT_MAX)
        batch = serializers.IntegerField(required=False, min_value=1, max_value=BIGINT_MAX)
        near_duplicate = serializers.BooleanField(required=False, allow_null=True, default=None)
        ordering = serializers.ChoiceField(choices=sorted(IMAGE_ORDERINGS), required=False, default="-id")
        limit = serializers.IntegerField(required=False, min_value=1, max_value=500, default=100)
        offset = serializers.IntegerField(required=False, min_value=0, max_value=MAX_OFFSET, default=0)

    class OutputSerializer(serializers.Serializer):
        id = serializers.IntegerField(source="image.id")
        sha256 = serializers.CharField(source="image.sha256")
        width = serializers.IntegerField(source="image.width")
        height = serializers.IntegerField(source="image.height")
        format = serializers.CharField(source="image.format")
        canonical = serializers.IntegerField(source="image.canonical_id", allow_null=True)
        category = serializers.CharField(source="candidate_category.name", allow_null=True, default=None)
        batch = serializers.IntegerField(source="batch_id", allow_null=True)
        source_uri = serializers.CharField()
        license = serializers.CharField()
        attribution = serializers.CharField()
        query = serializers.CharField()
        ingested_at = serializers.DateTimeField()
        url = serializers.SerializerMethodField()
        thumbnail_url = serializers.SerializerMethodField()

        def get_url(self, obj: object) -> str:
            return reverse("media_image", args=[obj.image.sha256])

        def get_thumbnail_url(self, obj: object) -> str:
            return reverse("media_thumbnail", args=[obj.image.sha256])

    class PageSerializer(serializers.Serializer):
        count = serializers.IntegerField()
        results = serializers.ListField(child=serializers.DictField())

    @extend_schema(parameters=[FilterSerializer], responses=PageSerializer, summary="Project images (paginated)")
    def get(self, request: Request, slug: str) -> Response:
        project = project_for_researcher(request.user, slug)
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        f = dict(filters.validated_data)
        limit, offset = f.pop("limit"), f.pop("offset")
        qs = image_sources_for_project(project, **f)
        return Response(
            {"count": qs.count(), "results": self.OutputSerializer(qs[offset : offset + limit], many=True).data}
        )


class CategoryOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    definition = serializers.CharField()
    wnid = serializers.CharField()
    parent = serializers.CharField(source="parent.name", allow_null=True, default=None)


class CategoryInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    definition = serializers.CharField(required=False, allow_blank=True, default="", max_length=5000)
    wnid = serializers.CharField(required=False, allow_blank=True, default="", max_length=32)
    parent = serializers.CharField(required=False, allow_blank=True, allow_null=True, default=None, max_length=200)


class CategoryListCreateApi(APIView):
    permission_classes = RESEARCHER

    @extend_schema(responses=CategoryOutputSerializer(many=True), summary="A project's categories")
    def get(self, request: Request, slug: str) -> Response:
        project = project_for_researcher(request.user, slug)
        return Response(CategoryOutputSerializer(project.categories.select_related("parent"), many=True).data)

    @extend_schema(request=CategoryInputSerializer, responses={201: CategoryOutputSerializer}, summary="Add one")
    def post(self, request: Request, slug: str) -> Response:
        project = project_for_researcher(request.user, slug)
        data = CategoryInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        if project.categories.filter(name=data.validated_data["name"].strip()).exists():
            raise ServiceError("A category with this name exists.", code="name_taken", status_code=409)
        category = category_upsert(project=project, **data.validated_data)
        return Response(CategoryOutputSerializer(category).data, status=status.HTTP_201_CREATED)


class CategoryDetailApi(APIView):
    permission_classes = RESEARCHER

    @extend_schema(responses=CategoryOutputSerializer, summary="One category")
    def get(self, request: Request, slug: str, pk: int) -> Response:
        category = category_for_project(project_for_researcher(request.user, slug), pk)
        return Response(CategoryOutputSerializer(category).data)

    @extend_schema(request=CategoryInputSerializer, responses=CategoryOutputSerializer, summary="Edit a category")
    def put(self, request: Request, slug: str, pk: int) -> Response:
        project = project_for_researcher(request.user, slug)
        category = category_for_project(project, pk)
        data = CategoryInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        parent = project.categories.filter(name=v["parent"]).first() if v.get("parent") else None
        if v.get("parent") and parent is None:
            raise ServiceError(f"No category {v['parent']!r} in this project.", code="bad_parent")
        category = category_update(
            category=category, name=v["name"], definition=v["definition"], wnid=v["wnid"], parent=parent
        )
        return Response(CategoryOutputSerializer(category).data)

    @extend_schema(responses={204: None}, summary="Delete a category")
    def delete(self, request: Request, slug: str, pk: int) -> Response:
        category_delete(category=category_for_project(project_for_researcher(request.user, slug), pk))
        return Response(status=status.HTTP_204_NO_CONTENT)


class CategoryImportApi(APIView):
    permission_classes = RESEARCHER
    parser_classes = [MultiPartParser, FormParser, JSONParser]

    class CategoryImportInputSerializer(serializers.Serializer):
        file = serializers.FileField()

    class OutputSerializer(serializers.Serializer):
        created = serializers.IntegerField()
        updated = serializers.IntegerField()
        errors = serializers.ListField(child=serializers.CharField())

    @extend_schema(
        request=CategoryImportInputSerializer, responses=OutputSerializer, summary="Import CSV/JSON categories"
    )
    def post(self, request: Request, slug: str) -> Response:
        project = project_for_researcher(request.user, slug)
        data = self.CategoryImportInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        upload = data.validated_data["file"]
        result = categories_import(project=project, data=upload.read(6 * 1024 * 1024), filename=upload.name)
        return Response(self.OutputSerializer(result).data)
