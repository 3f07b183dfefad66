"""API errors are always `{"detail": str, "code": str}` (plus `errors` for field validation)."""

from __future__ import annotations

from typing import Any

from django.db import DatabaseError
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
    if isinstance(exc, DatabaseError) and _is_connection_error(exc):
        return Response(
            {"detail": "The database is unavailable; try again shortly.", "code": "database_unavailable"},
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
        )
    response = exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, ValidationError):
        response.data = {"detail": "Invalid input.", "code": "invalid", "errors": response.data}
    elif isinstance(exc, APIException):
        codes = exc.get_codes()
        code = codes if isinstance(codes, str) else "error"
        response.data = {"detail": str(exc.detail), "code": code}
    else:  # Django's Http404 / PermissionDenied raised by scoped selectors: same error shape
        detail = str(exc) or ("Not found." if response.status_code == 404 else "Permission denied.")
        response.data = {"detail": detail, "code": "not_found" if response.status_code == 404 else "permission_denied"}
    return response


def _is_connection_error(exc: Exception) -> bool:
    from django.db import InterfaceError, OperationalError

    return isinstance(exc, (OperationalError, InterfaceError))
