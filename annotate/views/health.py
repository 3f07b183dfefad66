from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from annotate.services import check_broker, check_database


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """200 when the database and the broker answer, 503 saying which does not. Only staff see the details
    (vendor, driver, error text): to anyone else they would name the stack and, in errors, its hosts."""
    db_ok, db_detail = check_database()
    broker_ok, broker_detail = check_broker()
    ok = db_ok and broker_ok
    staff = bool(getattr(request.user, "is_staff", False))
    body = {
        "status": "ok" if ok else "unavailable",
        "database": {"ok": db_ok, **({"detail": db_detail} if staff else {})},
        "broker": {"ok": broker_ok, **({"detail": broker_detail} if staff else {})},
    }
    return JsonResponse(body, status=200 if ok else 503)
