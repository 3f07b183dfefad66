"""API errors are always `{"detail": str, "code": str}` (plus `errors` for field validation)."""

from __future__ import annotations

from typing import Any

from django.db import DatabaseError, DataError
from django.http import HttpRequest, JsonResponse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from rest_framework import status
from rest_framework.exceptions import APIException, ValidationError
from rest_framework.response import Response
from rest_framework.views import exception_handler


class ServiceError(Exception):
    """Raised by services for a refused operation; the API turns it into a 400/403/404/409."""

    status_code = status.HTTP_400_BAD_REQUEST
    code = "invalid"

    def __init__(self, message: str, *, code: str | None = None, status_code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        if status_code:
            self.status_code = status_code


class NotFound(ServiceError):
    status_code = status.HTTP_404_NOT_FOUND
    code = "not_found"


class Conflict(ServiceError):
    status_code = status.HTTP_409_CONFLICT
    code = "conflict"


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, ServiceError):
        return Response({"detail": exc.message, "code": exc.code}, status=exc.status_code)
    if isinstance(exc, DataError):
        # A value the database refuses (an integer past bigint, a malformed number): the input's fault, a 400.
        return Response(
            {"detail": _("A value in the request is out of range or malformed."), "code": "invalid_value"},
            status=status.HTTP_400_BAD_REQUEST,
        )
    if isinstance(exc, DatabaseError) and _is_connection_error(exc):
        return Response(
            {"detail": _("The database is unavailable; try again shortly."), "code": "database_unavailable"},
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
        )
    response = exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, ValidationError):
        response.data = {"detail": _("Invalid input."), "code": "invalid", "errors": response.data}
    elif isinstance(exc, APIException):
        codes = exc.get_codes()
        code = codes if isinstance(codes, str) else "error"
        response.data = {"detail": str(exc.detail), "code": code}
    else:  # Django's Http404 / PermissionDenied raised by scoped selectors: same error shape
        detail = str(exc) or (_("Not found.") if response.status_code == 404 else _("Permission denied."))
        response.data = {"detail": detail, "code": "not_found" if response.status_code == 404 else "permission_denied"}
    return response


def _is_connection_error(exc: Exception) -> bool:
    from django.db import InterfaceError, OperationalError

    return isinstance(exc, (OperationalError, InterfaceError))


# --- Django's own error pages, as JSON under /api/ ---------------------------------------------------------
# Errors raised outside DRF's views (a body Django refuses, an unknown /api/ route, an exception DRF's
# handler passes on) reach Django's handler400/403/404/500: under /api/ they answer with the same shape.

_DJANGO_ERRORS = {
    400: (gettext_lazy("Bad request."), "bad_request"),
    403: (gettext_lazy("Permission denied."), "permission_denied"),
    404: (gettext_lazy("Not found."), "not_found"),
    500: (gettext_lazy("Internal server error."), "internal_error"),
}


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


def _json_error(status_code: int) -> JsonResponse:
    detail, code = _DJANGO_ERRORS[status_code]
    return JsonResponse({"detail": str(detail), "code": code}, status=status_code)


def bad_request(request: HttpRequest, exception: Exception | None = None) -> Any:
    from django.views import defaults

    return _json_error(400) if _is_api(request) else defaults.bad_request(request, exception)


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> Any:
    from django.views import defaults

    return _json_error(403) if _is_api(request) else defaults.permission_denied(request, exception)


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> Any:
    from django.views import defaults

    return _json_error(404) if _is_api(request) else defaults.page_not_found(request, exception)


def server_error(request: HttpRequest) -> Any:
    from django.views import defaults

    return _json_error(500) if _is_api(request) else defaults.server_error(request)
