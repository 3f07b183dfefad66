"""Media served by the storage once Django has authorised it (annotate/serving.py): a presigned S3 redirect
(against a real S3 API, moto's server), nginx X-Accel-Redirect and X-Sendfile on local disk, and streaming.

In every mode the permission check stays one query, and a refused request gets a 404 with nothing that
points at the file (no Location, no X-Accel-Redirect, no X-Sendfile).
"""

from __future__ import annotations

import io
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
from django.core.files.storage import default_storage
from PIL import Image as PILImage

from labeling.models import Project
from tests.helpers.images import jpeg_bytes, png_bytes

pytestmark = pytest.mark.django_db

POINTERS = ("Location", "X-Accel-Redirect", "X-Sendfile")


@pytest.fixture
def serve(settings):
    def set_mode(mode: str, **extra) -> None:
        settings.ANNOTATE = {**settings.ANNOTATE, "MEDIA_SERVE": mode, **extra}

    return set_mode


@pytest.fixture
def images(run_folder):
    batch = run_folder({"heron/a.jpg": jpeg_bytes(320, 240, seed=90), "heron/b.png": png_bytes(seed=91)})
    return {e.key: e.image for e in batch.entries.all()}


def _decoded(data: bytes) -> PILImage.Image:
    img = PILImage.open(io.BytesIO(data))
    img.load()
    return img


def _refused_without_pointer(response) -> None:
    assert response.status_code == 404
    for header in POINTERS:
        assert header not in response, (header, response[header])


def _hide_project(project) -> None:
    project.visibility = Project.Visibility.INVITE
    project.save(update_fields=["visibility"])


def test_s3_ingest_writes_originals_and_thumbnails_to_the_bucket(s3_server, s3_bucket, images):
    keys = s3_server.keys(s3_bucket)
    for image in images.values():
        assert image.file.name in keys and image.thumbnail.name in keys
        original = _decoded(s3_server.get(s3_bucket, image.file.name))
        assert original.size == (image.width, image.height) and original.format == image.format
        thumb = _decoded(s3_server.get(s3_bucket, image.thumbnail.name))
        assert thumb.format == "JPEG" and max(thumb.size) <= 256


def test_s3_thumbnail_is_a_presigned_redirect_whose_bytes_come_from_the_bucket(
    client, researcher, s3_server, s3_bucket, images, serve, django_assert_num_queries
):
    serve("auto")  # S3 -> redirect
    client.force_login(researcher)
    image = images["heron/a.jpg"]
    client.get(f"/media/thumb/{image.sha256}")  # warm the session
    with django_assert_num_queries(3):  # session, user, and the one image/permission query; signing is local
        response = client.get(f"/media/thumb/{image.sha256}")
    assert response.status_code == 302
    location = response["Location"]
    assert location.startswith(f"{s3_server.endpoint}/{s3_bucket}/{image.thumbnail.name}?")
    assert "X-Amz-Signature=" in location and "X-Amz-Expires=300" in location
    # the redirect is reused by the browser for less than the URL lives; the bytes are cached for good
    assert response["Cache-Control"] == "private, max-age=240"
    fetched = requests.get(location, timeout=10)
    assert fetched.status_code == 200
    assert fetched.headers["Content-Type"] == "image/jpeg"
    assert fetched.headers["Cache-Control"] == "private, max-age=31536000, immutable"
    assert fetched.headers["Content-Disposition"] == f'inline; filename="{image.sha256}.jpg"'
    assert fetched.content == s3_server.get(s3_bucket, image.thumbnail.name)
    assert max(_decoded(fetched.content).size) <= 256

    original = client.get(f"/media/image/{images['heron/b.png'].sha256}")
    fetched = requests.get(original["Location"], timeout=10)
    assert fetched.headers["Content-Type"] == "image/png" and _decoded(fetched.content).format == "PNG"


def test_s3_objects_are_private(client, researcher, s3_bucket, images, serve):
    """Only a signed URL reads the bucket. (SigV4 signs the whole query, so the response-* overrides cannot be
    changed on AWS or MinIO; moto does not check that part of the signature, so it is not asserted here.)"""
    serve("redirect")
    client.force_login(researcher)
    location = client.get(f"/media/thumb/{images['heron/a.jpg'].sha256}")["Location"]
    assert "response-content-type=image%2Fjpeg" in location
    assert requests.get(location.split("?")[0], timeout=10).status_code == 403  # no anonymous reads


def test_s3_refusals_never_sign_a_url(client, make_user, researcher, s3_bucket, images, project, serve):
    serve("redirect")
    sha = images["heron/a.jpg"].sha256
    anonymous = client.get(f"/media/thumb/{sha}")
    assert anonymous.status_code == 302 and anonymous["Location"].startswith("/accounts/login/")
    _hide_project(project)
    client.force_login(make_user("outsider"))
    _refused_without_pointer(client.get(f"/media/thumb/{sha}"))
    _refused_without_pointer(client.get(f"/media/image/{sha}"))
    _refused_without_pointer(client.get(f"/media/thumb/{'0' * 64}"))


def test_s3_urls_are_signed_for_the_endpoint_clients_reach(client, researcher, s3_server, s3_bucket, images, serve):
    """Behind docker-compose the web container reaches MinIO as http://minio:9000, browsers as localhost:9000."""
    port = urlsplit(s3_server.endpoint).port
    serve("redirect", MEDIA_PUBLIC_ENDPOINT_URL=f"http://localhost:{port}")
    client.force_login(researcher)
    location = client.get(f"/media/thumb/{images['heron/a.jpg'].sha256}")["Location"]
    assert location.startswith(f"http://localhost:{port}/{s3_bucket}/thumbs/")
    assert requests.get(location, timeout=10).status_code == 200  # the signature holds for that host


def test_accel_hands_the_file_to_nginx_with_the_headers_set_by_django(
    client, researcher, images, serve, django_assert_num_queries
):
    serve("accel")
    client.force_login(researcher)
    image = images["heron/a.jpg"]
    client.get(f"/media/thumb/{image.sha256}")
    with django_assert_num_queries(3):
        response = client.get(f"/media/thumb/{image.sha256}")
    assert response.status_code == 200 and response.content == b""
    assert response["X-Accel-Redirect"] == f"/protected-media/{image.thumbnail.name}"
    assert response["Content-Type"] == "image/jpeg"
    assert response["Cache-Control"] == "private, max-age=31536000, immutable"
    assert response["Content-Security-Policy"].startswith("default-src 'none'")
    # what nginx's `alias` serves for that URI: the thumbnail under MEDIA_ROOT
    served = Path(default_storage.location) / response["X-Accel-Redirect"].removeprefix("/protected-media/")
    assert max(_decoded(served.read_bytes()).size) <= 256


def test_sendfile_names_the_absolute_path(client, researcher, images, serve):
    serve("sendfile")
    client.force_login(researcher)
    image = images["heron/b.png"]
    response = client.get(f"/media/image/{image.sha256}")
    assert response.status_code == 200 and response.content == b""
    assert response["X-Sendfile"] == default_storage.path(image.file.name)
    assert _decoded(Path(response["X-Sendfile"]).read_bytes()).format == "PNG"


@pytest.mark.parametrize("mode", ["accel", "sendfile", "stream"])
def test_local_modes_refuse_outsiders_without_a_pointer(client, make_user, images, project, serve, mode):
    serve(mode)
    _hide_project(project)
    client.force_login(make_user("outsider"))
    sha = images["heron/a.jpg"].sha256
    _refused_without_pointer(client.get(f"/media/thumb/{sha}"))
    _refused_without_pointer(client.get(f"/media/image/{sha}"))


def test_a_mode_that_does_not_fit_the_storage_is_refused(serve):
    from django.core.exceptions import ImproperlyConfigured

    from annotate.serving import serve_mode

    serve("redirect")  # local disk cannot sign URLs
    with pytest.raises(ImproperlyConfigured):
        serve_mode()
    serve("nginx")
    with pytest.raises(ImproperlyConfigured):
        serve_mode()
