"""Core API: who am I, and a token for non-browser clients."""

from django.conf import settings
from django.contrib.auth import authenticate
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.exceptions import Throttled
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotate.exceptions import ServiceError
from annotate.ratelimit import (
    LOCKED_MESSAGE,
    ScopedRateThrottle,
    locked_minutes,
    login_failure_record,
    login_is_locked,
    login_success_record,
)
from annotate.roles import user_roles
from annotate.selectors import api_token_status
from annotate.services import api_token_issue, api_token_revoke


class MeApi(APIView):
    class OutputSerializer(serializers.Serializer):
        id = serializers.IntegerField()
        username = serializers.CharField()
        roles = serializers.ListField(child=serializers.CharField())

    @extend_schema(responses=OutputSerializer, summary="The authenticated user and their roles")
    def get(self, request: Request) -> Response:
        data = {"id": request.user.id, "username": request.user.username, "roles": sorted(user_roles(request.user))}
        return Response(self.OutputSerializer(data).data)


class TokenApi(APIView):
    """POST: credentials for a token (anonymous). GET: whether you have one. DELETE: revoke it.

    One resource, so one URL; POST is the only method open to anonymous clients.
    """

    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "login"

    class StatusSerializer(serializers.Serializer):
        exists = serializers.BooleanField()
        created = serializers.DateTimeField(allow_null=True)
        prefix = serializers.CharField(
            allow_null=True, help_text="The key's first characters; the key is not shown again."
        )

    def _is_login(self) -> bool:
        request = getattr(self, "request", None)  # None while drf-spectacular builds the schema
        return request is not None and request.method == "POST"

    def get_authenticators(self) -> list:
        if self._is_login():
            return []  # credentials are in the body; a stale session must not make this a CSRF target
        return super().get_authenticators()

    def get_permissions(self) -> list:
        if self._is_login():
            return [AllowAny()]
        return super().get_permissions()

    @extend_schema(responses=StatusSerializer, summary="Whether you have an API token (never its key)")
    def get(self, request: Request) -> Response:
        return Response(self.StatusSerializer(api_token_status(user=request.user)).data)

    @extend_schema(request=None, responses={204: None}, summary="Revoke your API token")
    def delete(self, request: Request) -> Response:
        api_token_revoke(user=request.user)
        return Response(status=204)

    class InputSerializer(serializers.Serializer):
        username = serializers.CharField(max_length=150)
        password = serializers.CharField(max_length=128, style={"input_type": "password"})

    class OutputSerializer(serializers.Serializer):
        token = serializers.CharField()

    @extend_schema(request=InputSerializer, responses=OutputSerializer, summary="Exchange credentials for a token")
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        username = data.validated_data["username"]
        # The same failure counters as the HTML log-in (annotate/ratelimit.py): per account, per IP and
        # per pair, in the shared cache, checked before the password is.
        if login_is_locked(request, username):
            raise Throttled(
                wait=settings.LOGIN_FAILURE_WINDOW_SECONDS, detail=LOCKED_MESSAGE.format(minutes=locked_minutes())
            )
        user = authenticate(request, **data.validated_data)
        if user is None:
            login_failure_record(request, username)
            raise ServiceError(_("Wrong username or password."), code="invalid_credentials", status_code=400)
        login_success_record(request, username)
        response = Response(self.OutputSerializer({"token": api_token_issue(user=user).key}).data)
        response["Cache-Control"] = "no-store"  # the token is a secret
        return response
