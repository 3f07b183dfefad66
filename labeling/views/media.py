"""Serving stored originals and thumbnails: only to users who may see a project holding the image.

URLs are `/media/image/<sha256>` and `/media/thumb/<sha256>` for every image alike (no id, no
extension, nothing that tells gold from regular work). The permission check is one query; an unauthorised
request gets a 404 before any URL is signed. The bytes then come from the storage when it can send them
(a presigned S3 redirect, nginx X-Accel-Redirect: annotate/serving.py), else from Django. Responses carry the
stored format's Content-Type, `nosniff`, an inline Content-Disposition and, where Django answers, a CSP that
lets nothing run even if a browser were talked into rendering the bytes as a document.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.db.models import Exists, OuterRef, Q
from django.http import Http404, HttpRequest, HttpResponse
from django.views.decorators.http import require_GET

from annotate.roles import Role
from annotate.serving import Delivery, stored_file_response
from labeling.models import Image, ImageSource, Project
from labeling.services.ingestion.validation import CONTENT_TYPES, EXTENSIONS

MEDIA_CSP = "default-src 'none'; sandbox; frame-ancestors 'none'"


def _visible_image(user, sha256: str) -> dict | None:
    images = Image.objects.filter(sha256=sha256)
    if not user.is_superuser:
        in_visible_project = ImageSource.objects.filter(image_id=OuterRef("pk")).filter(
            Q(project__visibility=Project.Visibility.PUBLIC)
            | Q(project__members=user)
            | Q(project__owners=user)
            | Q(project__reviewers=user)
        )
        is_admin = get_user_model().groups.through.objects.filter(user_id=user.pk, group__name=Role.ADMIN.value)
        images = images.filter(Exists(in_visible_project) | Exists(is_admin))
    return images.values("sha256", "file", "thumbnail", "format").first()


def _serve(name: str, *, content_type: str, filename: str) -> HttpResponse:
    headers = (("Content-Security-Policy", MEDIA_CSP), ("Cross-Origin-Resource-Policy", "same-origin"))
    return stored_file_response(
        name, Delivery(content_type=content_type, filename=filename, immutable=True, headers=headers)
    )


@require_GET
@login_required
def image_original(request: HttpRequest, sha256: str) -> HttpResponse:
    row = _visible_image(request.user, sha256)
    if row is None or row["format"] not in CONTENT_TYPES:
        raise Http404("No such image.")
    ext = EXTENSIONS[row["format"]]
    return _serve(row["file"], content_type=CONTENT_TYPES[row["format"]], filename=f"{sha256}.{ext}")


@require_GET
@login_required
def image_thumbnail(request: HttpRequest, sha256: str) -> HttpResponse:
    row = _visible_image(request.user, sha256)
    if row is None or not row["thumbnail"]:
        raise Http404("No such image.")
    return _serve(row["thumbnail"], content_type="image/jpeg", filename=f"{sha256}.jpg")
