"""favicon.ico is no 404: it redirects to the SVG icon every page names."""

from __future__ import annotations

import pytest
from django.contrib.staticfiles import finders


@pytest.mark.django_db
def test_favicon_redirects_to_the_icon_pages_name(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 301
    assert response["Location"].endswith("annotate/favicon.svg")
    assert finders.find("annotate/favicon.svg")
    page = client.get("/accounts/login/").content.decode()
    assert 'rel="icon"' in page and "annotate/favicon.svg" in page
