"""On a phone-sized viewport, Submit stays on screen under a verify grid taller than the screen."""

from __future__ import annotations

import pytest

from labeling.models import Annotation
from tests.conftest import browser_login
from tests.helpers.factories import make_project_with_items

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_submit_in_reach_on_a_phone(new_page, make_user):
    from django.urls import resolve

    resolve("/")
    project, _ = make_project_with_items(slug="phone", n_items=30, categories=("owl",), needed_votes=1)
    make_user("pia")
    page = new_page(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    browser_login(page, "pia", "pw-pia-123")
    page.goto(f"/projects/{project.slug}/label/")
    page.wait_for_selector("[data-testid=tile]")
    assert page.evaluate("document.documentElement.scrollHeight") > 844  # the grid does not fit
    submit = page.locator("[data-testid=submit]")
    box = submit.bounding_box()
    assert box["y"] >= 0 and box["y"] + box["height"] <= 844, box
    page.locator("[data-testid=tile]").first.tap()
    submit.tap()
    n = page.locator("[data-testid=tile]").count()
    for _ in range(200):
        if Annotation.objects.filter(item__project=project).count() >= n:
            break
        page.wait_for_timeout(50)
    assert Annotation.objects.filter(item__project=project, label=1).count() == 1
