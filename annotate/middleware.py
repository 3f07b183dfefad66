"""Cross-cutting HTTP behaviour: a strict Content-Security-Policy, 503 when the DB is down, and 400 when it
refuses a value from the request."""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.conf import settings
from django.db import DataError, InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse

logger = logging.getLogger(__name__)


class ContentSecurityPolicyMiddleware:
    """No inline scripts on our pages: every script is a file under static/."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        response.headers.setdefault("Content-Security-Policy", settings.CONTENT_SECURITY_POLICY)
        return response


class DatabaseUnavailableMiddleware:
    """Turn a lost database connection into a clear 503 instead of a 500 page."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, DataError):
            # A value the database refuses, e.g. /ingest/batches/99999999999999999999/ (past bigint): the
            # request's fault. The API's own handler answers the same for DRF views (annotate/exceptions.py).
            message = "A value in the request is out of range or malformed."
            if request.path.startswith("/api/"):
                return JsonResponse({"detail": message, "code": "invalid_value"}, status=400)
            return HttpResponse(message, status=400, content_type="text/plain; charset=utf-8")
        if isinstance(exception, (OperationalError, InterfaceError)):
            logger.warning("database unavailable: %s", exception)
            message = "The database is unavailable; please try again in a few seconds."
            if request.path.startswith("/api/") or "application/json" in request.headers.get("Accept", ""):
                return JsonResponse({"detail": message, "code": "database_unavailable"}, status=503)
            return HttpResponse(message, status=503, content_type="text/plain; charset=utf-8")
        return None
