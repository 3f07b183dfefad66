"""Annotation import API (project owners and admins): one uploaded file (COCO JSON, CSV, VOC XML, or a zip of
YOLO / VOC files), imported all or nothing by labeling.services.imports."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from labeling.api.scoping import scoped_project
from labeling.selectors.projects import project_for_researcher
from labeling.services.imports import (
    FORMATS,
    MAX_UPLOAD_BYTES,
    MODES,
    ImportFailed,
    annotations_import,
    files_from_upload,
)


class ImportErrorSerializer(serializers.Serializer):
    entry = serializers.CharField()
    message = serializers.CharField()


class ImportFailedSerializer(serializers.Serializer):
    """A refused import: `errors` lists the bad entries ({"entry", "message"}) for code import_failed, the bad
    fields for code invalid; the counts come with import_failed."""

    detail = serializers.CharField()
    code = serializers.CharField()
    errors = serializers.JSONField(required=False)
    matched = serializers.IntegerField(required=False)
    created = serializers.IntegerField(required=False)
    unmatched = serializers.IntegerField(required=False)


class AnnotationImportApi(APIView):
    parser_classes = [MultiPartParser, FormParser]

    class InputSerializer(serializers.Serializer):
        file = serializers.FileField()
        format = serializers.ChoiceField(choices=FORMATS)
        mode = serializers.ChoiceField(choices=MODES, default="votes", help_text="gold or votes")
        source = serializers.CharField(default="imported", max_length=40)

    class OutputSerializer(serializers.Serializer):
        matched = serializers.IntegerField()
        created = serializers.IntegerField()
        unmatched = serializers.IntegerField()
        errors = ImportErrorSerializer(many=True)

    @extend_schema(
        operation_id="annotations_import",
        request={"multipart/form-data": InputSerializer},
        responses={200: OutputSerializer, 400: ImportFailedSerializer},
        summary="Import COCO / YOLO / VOC / CSV annotations as gold or votes (all or nothing)",
    )
    def post(self, request: Request, slug: str) -> Response:
        project = scoped_project(project_for_researcher, request.user, slug)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        upload = data.validated_data["file"]
        if upload.size > MAX_UPLOAD_BYTES:
            return Response({"detail": "The file is too large.", "code": "too_large"}, status=413)
        files = files_from_upload(upload.name, upload.read())
        try:
            d = data.validated_data
            result = annotations_import(
                project=project, fmt=d["format"], files=files, mode=d["mode"], source_name=d["source"]
            )
        except ImportFailed as exc:
            body = {"detail": exc.message, "code": exc.code, **exc.result.summary()}
            return Response(body, status=status.HTTP_400_BAD_REQUEST)
        return Response(self.OutputSerializer(result.summary()).data)
