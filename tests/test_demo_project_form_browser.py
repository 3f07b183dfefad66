"""The new-project form (issue 24): the slug follows the name until typed; box mode shows only for box projects."""

from __future__ import annotations

import pytest

from tests.conftest import browser_login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _urlconf_loaded():
    from django.urls import resolve

    resolve("/")


def test_slug_fills_from_the_name_and_box_mode_shows_for_boxes_only(new_page, make_user):
    make_user("rina", role="researcher")
    page = new_page()
    browser_login(page, "rina", "pw-rina-123")
    page.goto("/projects/new/")
    box_mode = page.locator("[name=box_mode]")
    page.select_option("[name=task_type]", "verify")
    box_mode.wait_for(state="hidden")
    page.fill("[name=name]", "Birds of Zürich 2026")
    assert page.input_value("[name=slug]") == "birds-of-zurich-2026"
    page.fill("[name=slug]", "my-birds")
    page.fill("[name=name]", "Birds again")
    assert page.input_value("[name=slug]") == "my-birds"  # a typed slug is kept
    page.select_option("[name=task_type]", "boxes")
    box_mode.wait_for(state="visible")
    page.select_option("[name=task_type]", "classify")
    box_mode.wait_for(state="hidden")
