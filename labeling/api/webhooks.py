"""Webhooks API: a project's endpoints (list, create, delete), a test event, the delivery log.

Researchers of the project only; another project's endpoint is a 404. The secret is in the answer that
creates the endpoint and nowhere else.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotate.roles import HasRole, Role
from labeling.selectors.projects import project_for_researcher
from labeling.selectors.webhooks import webhook_deliveries, webhook_for_project, webhooks_for_project
from labeling.services.webhooks import (
    SUBSCRIBABLE,
    webhook_endpoint_create,
    webhook_endpoint_delete,
    webhook_send_test,
)

RESEARCHER = [HasRole.of(Role.RESEARCHER)]


class EndpointOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    url = serializers.CharField()
    events = serializers.ListField(child=serializers.CharField(), help_text="Empty: every event.")
    active = serializers.BooleanField()
    created_at = serializers.DateTimeField()


class DeliveryOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    endpoint = serializers.IntegerField(source="endpoint_id")
    event = serializers.CharField()
    status = serializers.CharField(help_text="pending, retrying, delivered or failed")
    attempts = serializers.IntegerField()
    response_status = serializers.IntegerField(allow_null=True)
    duration_ms = serializers.IntegerField(allow_null=True)
    error = serializers.CharField()
    next_retry_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)
    payload = serializers.JSONField()


class WebhookListCreateApi(APIView):
    permission_classes = RESEARCHER

    class InputSerializer(serializers.Serializer):
        url = serializers.CharField(max_length=500)
        events = serializers.ListField(child=serializers.ChoiceField(choices=SUBSCRIBABLE), required=False)

    class CreatedSerializer(EndpointOutputSerializer):
        secret = serializers.CharField(help_text="Shown once: keep it to verify X-Annotate-Signature.")

    @extend_schema(responses=EndpointOutputSerializer(many=True), summary="A project's webhook endpoints")
    def get(self, request: Request, slug: str) -> Response:
        project = project_for_researcher(request.user, slug)
        return Response(EndpointOutputSerializer(webhooks_for_project(project), many=True).data)

    @extend_schema(request=InputSerializer, responses={201: CreatedSerializer}, summary="Add a webhook endpoint")
    def post(self, request: Request, slug: str) -> Response:
        project = project_for_researcher(request.user, slug)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        created = webhook_endpoint_create(project=project, created_by=request.user, **data.validated_data)
        created.endpoint.secret = created.secret
        response = Response(self.CreatedSerializer(created.endpoint).data, status=status.HTTP_201_CREATED)
        response["Cache-Control"] = "no-store"  # it carries the one-time secret
        return response


class WebhookDetailApi(APIView):
    permission_classes = RESEARCHER

    @extend_schema(responses=EndpointOutputSerializer, summary="One webhook endpoint")
    def get(self, request: Request, slug: str, pk: int) -> Response:
        endpoint = webhook_for_project(project_for_researcher(request.user, slug), pk)
        return Response(EndpointOutputSerializer(endpoint).data)

    @extend_schema(responses={204: None}, summary="Delete a webhook endpoint (and its log)")
    def delete(self, request: Request, slug: str, pk: int) -> Response:
        webhook_endpoint_delete(endpoint=webhook_for_project(project_for_researcher(request.user, slug), pk))
        return Response(status=status.HTTP_204_NO_CONTENT)


class WebhookTestApi(APIView):
    permission_classes = RESEARCHER

    @extend_schema(request=None, responses={202: DeliveryOutputSerializer}, summary="Send a test (ping) event")
    def post(self, request: Request, slug: str, pk: int) -> Response:
        endpoint = webhook_for_project(project_for_researcher(request.user, slug), pk)
        delivery = webhook_send_test(endpoint=endpoint)
        return Response(DeliveryOutputSerializer(delivery).data, status=status.HTTP_202_ACCEPTED)


class WebhookDeliveriesApi(APIView):
    permission_classes = RESEARCHER

    @extend_schema(responses=DeliveryOutputSerializer(many=True), summary="The delivery log, newest first")
    def get(self, request: Request, slug: str) -> Response:
        project = project_for_researcher(request.user, slug)
        return Response(DeliveryOutputSerializer(webhook_deliveries(project, limit=200), many=True).data)
