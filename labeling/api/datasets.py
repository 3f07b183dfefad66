"""Dataset versions and exports API (researchers, own projects only: anything else is a 404)."""

from __future__ import annotations

from django.http import HttpResponse
from django.urls import reverse
from django.utils import translation
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotate.exceptions import Conflict
from annotate.roles import HasRole, Role
from annotate.serving import Delivery, stored_file_response
from labeling.models import DatasetExport
from labeling.selectors import datasets as sel
from labeling.selectors.projects import project_for_researcher
from labeling.services.datasets import dataset_version_create
from labeling.services.exports import FORMATS, dataset_export_request, export_filename

RESEARCHER = [HasRole.of(Role.RESEARCHER)]


class VersionOutput(serializers.Serializer):
    id = serializers.IntegerField()
    project = serializers.CharField(source="project.slug")
    number = serializers.IntegerField()
    name = serializers.CharField()
    items_count = serializers.IntegerField()
    content_hash = serializers.CharField()
    filters = serializers.JSONField()
    split = serializers.ListField(child=serializers.FloatField(), source="split_fractions")
    seed = serializers.IntegerField()
    classes = serializers.JSONField()
    stats = serializers.JSONField()
    created_at = serializers.DateTimeField()


class ExportOutput(serializers.Serializer):
    id = serializers.IntegerField()
    version = serializers.IntegerField(source="version_id")
    format = serializers.CharField()
    status = serializers.CharField()
    progress = serializers.FloatField()
    size = serializers.IntegerField()
    items_count = serializers.IntegerField()
    error = serializers.CharField()
    options = serializers.JSONField()
    download_url = serializers.SerializerMethodField()

    def get_download_url(self, obj: DatasetExport) -> str | None:
        if obj.status != DatasetExport.Status.DONE:
            return None
        return reverse("api-export-download", kwargs={"pk": obj.pk})


class DatasetListApi(APIView):
    permission_classes = RESEARCHER

    @extend_schema(responses=VersionOutput(many=True), summary="Dataset versions of a project")
    def get(self, request: Request, slug: str) -> Response:
        project = project_for_researcher(request.user, slug)
        return Response(VersionOutput(sel.versions_of_project(project), many=True).data)


class DatasetCreateApi(APIView):
    permission_classes = RESEARCHER

    class InputSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
        categories = serializers.ListField(child=serializers.IntegerField(), required=False, allow_empty=True)
        min_posterior = serializers.FloatField(required=False, allow_null=True, min_value=0.0, max_value=1.0)
        accepted_only = serializers.BooleanField(required=False, default=False)
        include_gold = serializers.BooleanField(required=False, default=True)
        exclude_near_duplicates = serializers.BooleanField(required=False, default=True)
        split = serializers.ListField(child=serializers.FloatField(min_value=0.0, max_value=1.0), min_length=3,
                                      max_length=3, required=False, default=[0.8, 0.1, 0.1])  # fmt: skip
        seed = serializers.IntegerField(required=False, default=0, min_value=-(2**31), max_value=2**31 - 1)

    @extend_schema(request=InputSerializer, responses={201: VersionOutput}, summary="Create an immutable version")
    def post(self, request: Request, slug: str) -> Response:
        project = project_for_researcher(request.user, slug)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        version = dataset_version_create(project=project, created_by=request.user, **data.validated_data,
                                         language=translation.get_language())  # fmt: skip
        return Response(VersionOutput(version).data, status=status.HTTP_201_CREATED)


class DatasetDetailApi(APIView):
    permission_classes = RESEARCHER

    class OutputSerializer(VersionOutput):
        card = serializers.CharField()
        exports = ExportOutput(many=True, source="exports.all")

    @extend_schema(responses=OutputSerializer, summary="A dataset version with its card and exports")
    def get(self, request: Request, pk: int) -> Response:
        version = sel.version_for_researcher(request.user, pk)
        return Response(self.OutputSerializer(version).data)


class DatasetDiffApi(APIView):
    permission_classes = RESEARCHER

    class OutputSerializer(serializers.Serializer):
        added = serializers.IntegerField()
        removed = serializers.IntegerField()
        relabelled = serializers.IntegerField()
        moved_split = serializers.IntegerField()
        unchanged = serializers.IntegerField()
        same_content = serializers.BooleanField()

    @extend_schema(responses=OutputSerializer, summary="Added/removed/relabelled images from version a to b")
    def get(self, request: Request, a: int, b: int) -> Response:
        va = sel.version_for_researcher(request.user, a)
        vb = sel.version_for_researcher(request.user, b)
        if va.project_id != vb.project_id:
            raise Conflict("Both versions must belong to the same project.", code="different_projects")
        return Response(self.OutputSerializer(sel.dataset_version_diff(va, vb)).data)


class ExportCreateApi(APIView):
    permission_classes = RESEARCHER

    class InputSerializer(serializers.Serializer):
        format = serializers.ChoiceField(choices=list(FORMATS))
        shard_mb = serializers.FloatField(required=False, min_value=0.01, max_value=100_000)
        folder_names = serializers.ChoiceField(
            choices=["index", "wnid"], required=False, help_text="imagefolder: class folders by index or WordNet id"
        )

    @extend_schema(request=InputSerializer, responses={202: ExportOutput}, summary="Start (or reuse) an export")
    def post(self, request: Request, pk: int) -> Response:
        version = sel.version_for_researcher(request.user, pk)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        options = {k: data.validated_data[k] for k in ("shard_mb", "folder_names") if k in data.validated_data}
        export = dataset_export_request(version=version, fmt=data.validated_data["format"],
                                        created_by=request.user, options=options)  # fmt: skip
        return Response(ExportOutput(export).data, status=status.HTTP_202_ACCEPTED)


class ExportDetailApi(APIView):
    permission_classes = RESEARCHER

    @extend_schema(responses=ExportOutput, summary="Export status and progress")
    def get(self, request: Request, pk: int) -> Response:
        return Response(ExportOutput(sel.export_for_researcher(request.user, pk)).data)


class ExportDownloadApi(APIView):
    permission_classes = RESEARCHER

    @extend_schema(responses={(200, "application/octet-stream"): OpenApiResponse(description="The export file")},
                   summary="Download a finished export (a redirect to the storage on S3, else streamed)")  # fmt: skip
    def get(self, request: Request, pk: int) -> HttpResponse:
        export = sel.export_for_researcher(request.user, pk)
        if export.status != DatasetExport.Status.DONE or not export.file:
            raise Conflict(f"The export is {export.status}, not ready to download.", code="export_not_ready")
        delivery = Delivery(content_type=FORMATS[export.format].CONTENT_TYPE, filename=export_filename(export),
                            attachment=True)  # fmt: skip
        return stored_file_response(export.file.name, delivery)
