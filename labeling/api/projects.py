"""Researcher API: create a project, list one's projects, a project's detail with its progress."""

from __future__ import annotations

from django.db.models import Count, Q
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotate.roles import HasRole, Role
from labeling.api.scoping import scoped_project
from labeling.models import Item, Project
from labeling.selectors.projects import project_for_researcher, projects_for_researcher
from labeling.services.projects import MAX_CATEGORIES, project_create


class _ProjectOutput(serializers.Serializer):
    id = serializers.IntegerField()
    slug = serializers.SlugField()
    name = serializers.CharField()
    task_type = serializers.CharField()
    box_mode = serializers.CharField()
    visibility = serializers.CharField()
    min_votes = serializers.IntegerField()
    max_votes = serializers.IntegerField()
    gold_rate = serializers.FloatField()


class ResearcherProjectCreateApi(APIView):
    permission_classes = [HasRole.of(Role.RESEARCHER)]

    class InputSerializer(serializers.Serializer):
        class CategoryInputSerializer(serializers.Serializer):
            name = serializers.CharField(max_length=200)
            definition = serializers.CharField(allow_blank=True, default="")
            wnid = serializers.CharField(allow_blank=True, default="", max_length=32)
            parent = serializers.CharField(allow_null=True, required=False, default=None)

        slug = serializers.SlugField(max_length=100)
        name = serializers.CharField(max_length=200, required=False, default="")
        task_type = serializers.ChoiceField(choices=Project.TaskType.choices)
        box_mode = serializers.ChoiceField(
            choices=Project.BoxMode.choices,
            default=Project.BoxMode.SINGLE,
            help_text="boxes projects: single (one class per image) or detect (a category per box)",
        )
        instructions = serializers.CharField(allow_blank=True, required=False, default="")
        min_votes = serializers.IntegerField(min_value=0, max_value=50, default=3)
        max_votes = serializers.IntegerField(min_value=1, max_value=50, required=False, allow_null=True, default=None)
        gold_rate = serializers.FloatField(min_value=0, max_value=0.5, default=0.1)
        visibility = serializers.ChoiceField(choices=Project.Visibility.choices, default=Project.Visibility.PUBLIC)
        categories = CategoryInputSerializer(many=True, required=False, default=list, max_length=MAX_CATEGORIES)

    class OutputSerializer(_ProjectOutput):
        pass

    @extend_schema(request=InputSerializer, responses={201: OutputSerializer}, summary="Create a project")
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        project = project_create(owner=request.user, **data.validated_data)
        return Response(self.OutputSerializer(project).data, status=status.HTTP_201_CREATED)


class ResearcherProjectListApi(APIView):
    permission_classes = [HasRole.of(Role.RESEARCHER)]

    class OutputSerializer(_ProjectOutput):
        pass

    @extend_schema(responses=OutputSerializer(many=True), summary="Projects the researcher owns")
    def get(self, request: Request) -> Response:
        projects = projects_for_researcher(request.user).order_by("-created_at")[:500]
        return Response(self.OutputSerializer(projects, many=True).data)


class ResearcherProjectDetailApi(APIView):
    # Any authenticated user; projects they do not own are a 404 (not a 403 that confirms they exist).

    class OutputSerializer(_ProjectOutput):
        class CategoryOutputSerializer(serializers.Serializer):
            id = serializers.IntegerField()
            name = serializers.CharField()
            definition = serializers.CharField(allow_blank=True)
            wnid = serializers.CharField(allow_blank=True)

        instructions = serializers.CharField(allow_blank=True)
        confidence_target = serializers.FloatField()
        qualification_size = serializers.IntegerField()
        stall_hours = serializers.FloatField()
        categories = CategoryOutputSerializer(many=True)
        items = serializers.DictField(child=serializers.IntegerField())

    @extend_schema(responses=OutputSerializer, summary="A project's settings, categories and progress")
    def get(self, request: Request, slug: str) -> Response:
        project = scoped_project(project_for_researcher, request.user, slug)
        counts = Item.objects.filter(project=project).aggregate(
            total=Count("id"),
            open=Count("id", filter=Q(status=Item.Status.OPEN)),
            done=Count("id", filter=~Q(status=Item.Status.OPEN)),
            gold=Count("id", filter=Q(is_gold=True)),
        )
        fields = {name: getattr(project, name) for name in self.OutputSerializer().fields if hasattr(project, name)}
        fields.update(categories=project.categories.all(), items=counts)
        return Response(self.OutputSerializer(fields).data)
