"""The curation grid in Chromium: keyboard selection, a bulk action, the item page's zoom."""

from __future__ import annotations

import pytest

from labeling.models import Item
from tests.conftest import browser_login
from tests.labeling.quality.qfactories import make_project

pytestmark = pytest.mark.django_db(transaction=True)


def test_keyboard_select_and_exclude_then_zoom(make_user, new_page):
    owner = make_user("curator", role="researcher")
    project, items = make_project(slug="grid", owner=owner, n_items=5, seed0=7000)
    page = new_page()
    browser_login(page, "curator", "pw-curator-123")
    page.goto(f"/projects/{project.slug}/items/")
    tiles = page.locator("[data-testid=curation-tile]")
    assert tiles.count() == 5
    page.keyboard.press("x")  # first tile
    page.keyboard.press("j")
    page.keyboard.press("j")
    page.keyboard.press("x")  # third tile
    assert page.locator("[data-testid=selected-count]").inner_text() == "2 selected"
    page.select_option("[data-testid=bulk-action]", "exclude")
    page.click("[data-testid=bulk-apply]")
    page.wait_for_selector(".messages")
    assert "2 item(s) excluded from datasets" in page.locator(".messages").inner_text()
    assert set(Item.objects.filter(excluded=True).values_list("pk", flat=True)) == {items[0].pk, items[2].pk}
    page.keyboard.press("Shift+A")
    assert page.locator("[data-testid=selected-count]").inner_text() == "5 selected"
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/items/{items[0].pk}/**")
    image = page.locator("[data-testid=item-image]")
    image.wait_for()
    for _ in range(200):  # locator.evaluate, not wait_for_function: the page's CSP forbids eval
        if image.evaluate("img => img.complete && img.naturalWidth > 0"):
            break
        page.wait_for_timeout(50)
    assert image.evaluate("img => img.naturalWidth > 0")
    assert page.locator("[data-testid=item-zoom]").get_attribute("class") == "zoom"
    page.keyboard.press("z")
    assert "zoomed" in page.locator("[data-testid=item-zoom]").get_attribute("class")
    assert page.locator("[data-testid=zoom-toggle]").get_attribute("aria-pressed") == "true"
