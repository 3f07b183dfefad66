"""Gold import API (the project's owners, admins): a CSV / JSON file upload, or the entries in a JSON body.
Everyone else gets the scoped 404. The command and the researcher page call the same service."""

from __future__ import annotations

from dataclasses import asdict

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from labeling.api.scoping import scoped_project
from labeling.selectors.projects import project_for_researcher
from labeling.services.quality import (
    GoldImportResult,
    gold_entries_from_json,
    gold_import,
    gold_import_file,
)
from labeling.services.quality.gold_import import MAX_GOLD_ENTRIES, MAX_GOLD_FILE_BYTES


class GoldErrorSerializer(serializers.Serializer):
    line = serializers.IntegerField(help_text="CSV line number, or 1-based position in the JSON list")
    image = serializers.CharField(allow_blank=True)
    reason = serializers.CharField()
    code = serializers.CharField()


class GoldRowSerializer(serializers.Serializer):
    line = serializers.IntegerField()
    image = serializers.CharField(allow_blank=True)
    status = serializers.ChoiceField(choices=["created", "updated", "unchanged", "error"])
    item_id = serializers.IntegerField(allow_null=True)
    reason = serializers.CharField(allow_blank=True)
    code = serializers.CharField(allow_blank=True)


class GoldImportOutputSerializer(serializers.Serializer):
    entries = serializers.IntegerField(help_text="Entries read")
    matched = serializers.IntegerField(help_text="Entries whose image matched an item of the project")
    created = serializers.IntegerField(help_text="Items that became gold")
    updated = serializers.IntegerField(help_text="Gold items whose known answer changed")
    unchanged = serializers.IntegerField(help_text="Gold items given the same answer again")
    unmatched = serializers.IntegerField(help_text="Entries whose image matched nothing in the project")
    errors = GoldErrorSerializer(many=True, help_text="Every entry that was not imported, with the reason")
    rows = GoldRowSerializer(many=True, help_text="One result per entry, in file order")


def import_payload(result: GoldImportResult) -> dict:
    return {**result.summary(), "rows": [asdict(row) for row in result.rows]}


class GoldImportApi(APIView):
    parser_classes = [MultiPartParser, FormParser, JSONParser]

    class FileInputSerializer(serializers.Serializer):
        file = serializers.FileField(help_text="CSV image,label[,category] (header optional) or a JSON list")

    class JsonInputSerializer(serializers.Serializer):
        gold = serializers.ListField(
            child=serializers.JSONField(),
            allow_empty=False,
            max_length=MAX_GOLD_ENTRIES,
            help_text='[{"image": sha256 | source URI | file name, "label": ... | "boxes": [[x, y, w, h]],'
            ' "category"?: verify only}]',
        )

    @extend_schema(
        request={"multipart/form-data": FileInputSerializer, "application/json": JsonInputSerializer},
        responses=GoldImportOutputSerializer,
        summary="Import gold (known answers); bad entries are reported one by one, the good ones imported",
    )
    def post(self, request: Request, slug: str) -> Response:
        project = scoped_project(project_for_researcher, request.user, slug)
        if request.content_type.startswith("application/json"):
            data = self.JsonInputSerializer(data=request.data)
            data.is_valid(raise_exception=True)
            result = gold_import(project=project, entries=gold_entries_from_json(data.validated_data["gold"]))
        else:
            data = self.FileInputSerializer(data=request.data)
            data.is_valid(raise_exception=True)
            upload = data.validated_data["file"]
            result = gold_import_file(project=project, data=upload.read(MAX_GOLD_FILE_BYTES + 1), filename=upload.name)
        return Response(GoldImportOutputSerializer(import_payload(result)).data)
