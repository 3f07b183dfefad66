"""The curation item page shows the most similar images by embedding (and says how to compute them when absent)."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from labeling.models import Item
from tests.conftest import browser_login
from tests.training.factories import shapes_version

pytestmark = pytest.mark.django_db(transaction=True)


def _loaded(page):
    section = page.locator("[data-testid=item-similar]")
    for _ in range(200):  # no wait_for_function: the page's CSP forbids eval
        if section.get_attribute("data-loaded") == "true":
            return section
        page.wait_for_timeout(50)
    raise AssertionError("the similar-images section never loaded")


def test_item_page_lists_similar_images(make_user, new_page):
    s = shapes_version(owner=make_user("rita", role="researcher"), n_per_class=4, size=64)
    item = Item.objects.filter(project=s.project).order_by("id").first()
    page = new_page()
    browser_login(page, "rita", "pw-rita-123")
    page.goto(f"/projects/{s.project.slug}/items/{item.pk}/")
    section = _loaded(page)
    assert section.locator("[data-testid=item-similar-none]").is_visible()  # nothing computed yet

    call_command("compute_embeddings", "--project", s.project.slug, "--device", "cpu", stdout=io.StringIO())
    page.reload()
    section = _loaded(page)
    tiles = section.locator("li.tile")
    assert tiles.count() == 11 and not section.locator("[data-testid=item-similar-none]").is_visible()
    first = tiles.first.locator("a").get_attribute("href")
    base = f"/projects/{s.project.slug}/items/"
    assert first.startswith(base) and first != f"{base}{item.pk}/"
    tiles.first.locator("a").click()
    page.wait_for_url(f"**{first}")
