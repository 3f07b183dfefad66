"""Media view: right Content-Type, nosniff, inline disposition, locked-down CSP, same URL shape for all."""

from __future__ import annotations

import io

import pytest
from PIL import Image as PILImage

from labeling.models import Project
from tests.helpers.images import jpeg_bytes, png_bytes

pytestmark = pytest.mark.django_db


@pytest.fixture
def images(run_folder):
    batch = run_folder({"heron/a.jpg": jpeg_bytes(seed=80), "heron/b.png": png_bytes(seed=81)})
    return {e.key: e.image for e in batch.entries.all()}


def test_original_and_thumbnail_headers(client, researcher, images, django_assert_max_num_queries):
    client.force_login(researcher)
    png = images["heron/b.png"]
    response = client.get(f"/media/image/{png.sha256}")
    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Disposition"] == f'inline; filename="{png.sha256}.png"'
    assert response["Content-Security-Policy"].startswith("default-src 'none'")
    assert PILImage.open(io.BytesIO(b"".join(response.streaming_content))).format == "PNG"
    thumb = client.get(f"/media/thumb/{images['heron/a.jpg'].sha256}")
    assert thumb["Content-Type"] == "image/jpeg"
    assert max(PILImage.open(io.BytesIO(b"".join(thumb.streaming_content))).size) <= 256


def test_permission_check_is_one_query(client, researcher, images, django_assert_num_queries):
    client.force_login(researcher)
    sha = images["heron/a.jpg"].sha256
    client.get(f"/media/image/{sha}")  # warm the session
    with django_assert_num_queries(3):  # session, user, and the one image/permission query
        assert client.get(f"/media/image/{sha}").status_code == 200


def test_anonymous_and_outsiders_get_nothing(client, make_user, images, project):
    sha = images["heron/a.jpg"].sha256
    assert client.get(f"/media/image/{sha}").status_code == 302  # to the login page
    project.visibility = Project.Visibility.INVITE
    project.save(update_fields=["visibility"])
    client.force_login(make_user("outsider"))
    assert client.get(f"/media/image/{sha}").status_code == 404
    assert client.get(f"/media/image/{'0' * 64}").status_code == 404


def test_volunteers_see_images_of_public_projects_and_urls_have_one_shape(client, make_user, images):
    client.force_login(make_user("val"))
    for image in images.values():
        assert client.get(f"/media/image/{image.sha256}").status_code == 200
        assert client.get(f"/media/thumb/{image.sha256}").status_code == 200
