"""Similar images: the nearest images of a project by pretrained-embedding cosine. Researchers and reviewers of
the project only (another project's image is a 404)."""

from __future__ import annotations

from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotate.roles import HasRole, Role
from labeling.models import Item
from labeling.selectors.projects import project_for_reviewer
from training.selectors import similar_images, similar_with_items


class SimilarImagesApi(APIView):
    permission_classes = [HasRole.of(Role.REVIEWER, Role.RESEARCHER)]

    class InputSerializer(serializers.Serializer):
        project = serializers.CharField(max_length=100)
        k = serializers.IntegerField(min_value=1, max_value=100, default=12)

    class OutputSerializer(serializers.Serializer):
        image = serializers.IntegerField()
        score = serializers.FloatField(help_text="Cosine similarity of the embeddings, in [-1, 1].")
        item = serializers.IntegerField(allow_null=True, help_text="An item of the project on that image.")
        item_url = serializers.CharField(allow_null=True, help_text="Its page in the curation browser.")
        thumbnail_url = serializers.CharField()

    @extend_schema(parameters=[InputSerializer], responses=OutputSerializer(many=True),
                   summary="Images of the project most similar to this one (run compute_embeddings first)")  # fmt: skip
    def get(self, request: Request, image_id: int) -> Response:
        data = self.InputSerializer(data=request.query_params)
        data.is_valid(raise_exception=True)
        project = project_for_reviewer(request.user, data.validated_data["project"])
        if not Item.objects.filter(project=project, image_id=image_id).exists():
            raise Http404("No such image in this project.")
        out = similar_images(project, image_id, k=data.validated_data["k"])
        return Response(self.OutputSerializer(similar_with_items(project, out), many=True).data)
