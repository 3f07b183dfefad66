"""Volunteer API: projects to label, next items, answers (batched), skips, one's own answers."""

from __future__ import annotations

from django.db.models import Exists, OuterRef, Prefetch
from django.urls import reverse
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

from annotate.exceptions import NotFound, ServiceError
from annotate.inputs import param_ids, param_int
from labeling.api.answer_input import AnswerBatchField
from labeling.api.scoping import scoped_project
from labeling.models import Annotation, Category, Image, Item, Project
from labeling.selectors.labeling import volunteer_progress, volunteer_projects
from labeling.selectors.projects import project_for_volunteer
from labeling.services.annotations import MAX_BATCH, annotations_submit_batch, item_skip
from labeling.services.assignment import GRID_MAX, GRID_MIN, leases_release, next_items
from labeling.services.assignment import MAX_BATCH as MAX_NEXT
from labeling.services.quality.appeals import annotator_block_notice, appeal_submit


def image_urls(image: Image) -> tuple[str, str]:
    """(thumbnail URL, original URL) through the media view: the same shape for every image, gold or not."""
    return reverse("media_thumbnail", args=[image.sha256]), reverse("media_image", args=[image.sha256])


def examples_queryset():
    """Example images of a category, never the image of a gold item (an example shows its answer), whatever
    made it gold after it became an example (curation, gold import, a review fix)."""
    gold = Item.objects.filter(image_id=OuterRef("pk"), is_gold=True)
    return Image.objects.filter(~Exists(gold)).order_by("id")


def category_payload(category: Category, *, with_examples: bool = False) -> dict:
    data = {"id": category.id, "name": category.name, "definition": category.definition}
    if with_examples:
        data["examples"] = [image_urls(img)[0] for img in category.example_images.all()[:6]]
    return data


def item_payload(item: Item, expires_at, practice: bool = False) -> dict:
    """Everything a client needs to show one item, and nothing about gold. `practice` is true only on the
    qualification items of a new volunteer (their answers come back with the right answer); gold mixed into
    later work says false, like every regular item."""
    thumb, original = image_urls(item.image)
    return {
        "id": item.id,
        "thumbnail_url": thumb,
        "image_url": original,
        "width": item.image.width,
        "height": item.image.height,
        "category_id": item.category_id,
        "expires_at": expires_at,
        "practice": practice,
    }


def volunteer_project(request: Request, slug: str) -> Project:
    """The project if this user may label it; otherwise a 404 with our error shape."""
    return scoped_project(project_for_volunteer, request.user, slug)


class ProgressSerializer(serializers.Serializer):
    today = serializers.IntegerField()
    total = serializers.IntegerField()


class CategorySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    definition = serializers.CharField(allow_blank=True)
    examples = serializers.ListField(child=serializers.CharField(), required=False)


class PracticeFeedbackSerializer(serializers.Serializer):
    correct = serializers.BooleanField(help_text="Whether the answer was right")
    expected = serializers.JSONField(
        help_text='The right answer, shaped like an answer: {"label"}, {"category"} or {"boxes"}'
    )


class VolunteerProjectListApi(APIView):
    class OutputSerializer(serializers.Serializer):
        slug = serializers.SlugField()
        name = serializers.CharField()
        task_type = serializers.CharField()
        instructions = serializers.CharField(allow_blank=True)
        open_items = serializers.IntegerField()
        blocked = serializers.BooleanField(help_text="The volunteer may no longer label here (open_items is 0)")

    @extend_schema(responses=OutputSerializer(many=True), summary="Projects the volunteer may label")
    def get(self, request: Request) -> Response:
        projects = volunteer_projects(user=request.user)[:200]
        return Response(self.OutputSerializer(projects, many=True).data)


class NextItemsApi(APIView):
    class OutputSerializer(serializers.Serializer):
        class ItemSerializer(serializers.Serializer):
            id = serializers.IntegerField()
            thumbnail_url = serializers.CharField()
            image_url = serializers.CharField()
            width = serializers.IntegerField()
            height = serializers.IntegerField()
            category_id = serializers.IntegerField(allow_null=True)
            expires_at = serializers.DateTimeField()
            practice = serializers.BooleanField(
                help_text="A practice item: its answer's result says whether it was right, and the right answer"
            )

        project = serializers.SlugField()
        task_type = serializers.CharField()
        box_mode = serializers.CharField(help_text="boxes: single (boxes carry no category) or detect (one each)")
        category = CategorySerializer(allow_null=True, help_text="verify: the category of the whole grid")
        categories = CategorySerializer(many=True, help_text="classify/boxes: the project's categories")
        items = ItemSerializer(many=True)
        progress = ProgressSerializer()

    @extend_schema(
        parameters=[
            OpenApiParameter("n", int, description=f"Items wanted (verify grids: {GRID_MIN}-{GRID_MAX})"),
            OpenApiParameter("exclude", str, description="Comma-separated item ids on screen (for preloading)"),
        ],
        responses=OutputSerializer,
        summary="Lease the next items to label",
    )
    def get(self, request: Request, slug: str) -> Response:
        project = volunteer_project(request, slug)
        verify = project.task_type == Project.TaskType.VERIFY
        n = param_int(request.query_params, "n", default=16 if verify else 5)
        exclude = param_ids(request.query_params, "exclude", lenient=True)[:MAX_NEXT]
        n = min(max(n, GRID_MIN), GRID_MAX) if verify else min(max(n, 1), MAX_NEXT)
        items = next_items(user=request.user, project=project, n=n, exclude_ids=exclude)
        if not items:  # nothing left, or blocked: a blocked volunteer is told why (read only on an empty answer)
            notice = annotator_block_notice(project=project, user=request.user)
            if notice is not None:
                raise ServiceError(
                    _("You can no longer label in this project: %(reason)s") % {"reason": notice.reason},
                    code="annotator_blocked",
                    status_code=403,
                )
        leases = {}  # item id -> (expires_at, practice)
        if items:
            rows = request.user.leases.filter(item__in=items).values_list("item_id", "expires_at", "practice")
            leases = {item_id: (expires_at, practice) for item_id, expires_at, practice in rows}
        category = None
        categories = []
        if verify and items:
            cat = Category.objects.prefetch_related(Prefetch("example_images", queryset=examples_queryset())).get(
                pk=items[0].category_id
            )
            category = category_payload(cat, with_examples=True)
        elif not verify:
            categories = [category_payload(c) for c in project.categories.all()]
        data = {
            "project": project.slug,
            "task_type": project.task_type,
            "box_mode": project.box_mode,
            "category": category,
            "categories": categories,
            "items": [item_payload(item, *leases.get(item.id, (None, False))) for item in items],
            "progress": volunteer_progress(user=request.user, project=project),
        }
        return Response(self.OutputSerializer(data).data)


class AnswerShapeSerializer(serializers.Serializer):
    """One answer's shape, for the schema; SubmitAnswersApi validates with AnswerBatchField (one pass, same rules)."""

    item_id = serializers.IntegerField(min_value=1)
    submission_id = serializers.UUIDField()
    answer = serializers.JSONField()
    time_spent_ms = serializers.IntegerField(min_value=0, default=0)
    client_info = serializers.JSONField(required=False, default=dict)


class SubmitAnswersApi(APIView):
    """Answers are independent: each gets its own result. The response is 200 when at least one
    answer was stored (or was already stored); otherwise it carries the first error's status."""

    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "answers"

    class InputSerializer(serializers.Serializer):
        answers = AnswerBatchField(max_length=MAX_BATCH)

    class SchemaInputSerializer(serializers.Serializer):
        answers = AnswerShapeSerializer(many=True, allow_empty=False, max_length=MAX_BATCH)

    class OutputSerializer(serializers.Serializer):
        class ResultSerializer(serializers.Serializer):
            item_id = serializers.IntegerField()
            submission_id = serializers.CharField()
            ok = serializers.BooleanField()
            annotation_id = serializers.IntegerField(required=False)
            created = serializers.BooleanField(required=False)
            status = serializers.IntegerField(required=False)
            code = serializers.CharField(required=False)
            detail = serializers.CharField(required=False)
            feedback = PracticeFeedbackSerializer(
                required=False, help_text="Only on a stored answer to a practice item (see NextItems `practice`)"
            )

        results = ResultSerializer(many=True)
        progress = ProgressSerializer()
        detail = serializers.CharField(required=False)
        code = serializers.CharField(required=False)

    @extend_schema(request=SchemaInputSerializer, responses=OutputSerializer, summary="Submit a batch of answers")
    def post(self, request: Request, slug: str) -> Response:
        project = volunteer_project(request, slug)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        results = annotations_submit_batch(user=request.user, project=project, answers=data.validated_data["answers"])
        body = {"results": results, "progress": volunteer_progress(user=request.user, project=project)}
        code = status.HTTP_200_OK
        if not any(r["ok"] for r in results):
            first = results[0]
            body.update(detail=first["detail"], code=first["code"])
            code = first["status"]
        return Response(self.OutputSerializer(body).data, status=code)


class SkipItemApi(APIView):
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "answers"

    class InputSerializer(serializers.Serializer):
        item_id = serializers.IntegerField(min_value=1)

    @extend_schema(request=InputSerializer, responses={204: None}, summary="Skip a leased item")
    def post(self, request: Request, slug: str) -> Response:
        project = volunteer_project(request, slug)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        item_skip(user=request.user, project=project, item_id=data.validated_data["item_id"])
        return Response(status=status.HTTP_204_NO_CONTENT)


class MyAnswerDetailApi(APIView):
    class OutputSerializer(serializers.Serializer):
        id = serializers.IntegerField()
        item_id = serializers.IntegerField()
        submission_id = serializers.UUIDField()
        answer = serializers.JSONField()
        time_spent_ms = serializers.IntegerField()
        created_at = serializers.DateTimeField()

    @extend_schema(responses=OutputSerializer, summary="One of the volunteer's own answers")
    def get(self, request: Request, slug: str, annotation_id: int) -> Response:
        project = volunteer_project(request, slug)
        annotation = Annotation.objects.filter(pk=annotation_id, user=request.user, item__project=project).first()
        if annotation is None:
            raise NotFound("No such answer of yours in this project.")
        return Response(self.OutputSerializer(annotation).data)


class AppealApi(APIView):
    """A blocked volunteer asks the project's reviewers to look again (the note shows on the annotators page)."""

    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "answers"

    class InputSerializer(serializers.Serializer):
        text = serializers.CharField(max_length=2000)

    @extend_schema(request=InputSerializer, responses={201: None}, summary="Ask a reviewer to look at a block")
    def post(self, request: Request, slug: str) -> Response:
        project = volunteer_project(request, slug)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        appeal_submit(project=project, user=request.user, text=data.validated_data["text"])
        return Response(status=status.HTTP_201_CREATED)


class ReleaseLeasesApi(APIView):
    """Give back the leases of items the page held (sent with navigator.sendBeacon on `pagehide`: a form body
    carrying `csrfmiddlewaretoken`, so the session's CSRF check applies as to every other POST)."""

    class InputSerializer(serializers.Serializer):
        ids = serializers.CharField(max_length=2000, help_text="Comma-separated item ids")

    @extend_schema(request=InputSerializer, responses={204: None}, summary="Release held items")
    def post(self, request: Request, slug: str) -> Response:
        project = volunteer_project(request, slug)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        ids = param_ids(data.validated_data, "ids")[: MAX_NEXT * 2]  # the one parser: ASCII ids, bigint-bounded
        leases_release(user=request.user, project=project, item_ids=ids)
        return Response(status=status.HTTP_204_NO_CONTENT)
