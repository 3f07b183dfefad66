"""Review queue rough edges in Chromium: a digit alone never fixes (F first), images are readable and zoom,
Accept / Reject / Fix are explained."""

from __future__ import annotations

import pytest

from labeling.models import Item, ReviewAction
from tests.conftest import browser_login
from tests.labeling.quality.qfactories import cast, make_project

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_digit_alone_does_nothing_and_images_zoom(new_page, make_user):
    project, items = make_project(slug="revkeys", n_items=1, min_votes=2, max_votes=2, target=0.95)
    reviewer = make_user("rory", role="reviewer")
    project.reviewers.add(reviewer)
    for name, label in (("ann", 1), ("ben", 0)):
        cast(make_user(name), items[0], label)
    page = new_page()
    browser_login(page, "rory", "pw-rory-123")
    page.goto(f"/projects/{project.slug}/review/")
    page.wait_for_selector("[data-testid=review-item]")
    explained = page.locator("[data-testid=review-actions-explained]")
    explained.locator("summary").click()
    text = explained.inner_text()
    assert "does not show the category" in text and "becomes gold" in text

    image = page.locator("[data-testid=review-image]")
    image.wait_for()
    for _ in range(200):  # locator.evaluate, not wait_for_function: the page's CSP forbids eval
        if image.evaluate("img => img.complete && img.naturalWidth > 0"):
            break
        page.wait_for_timeout(50)
    assert image.evaluate("img => img.naturalWidth > 0")
    box = image.bounding_box()
    assert box["width"] >= 300  # a 40x30 crawl thumbnail is scaled up, not shown at 40 px
    page.keyboard.press("z")
    assert "zoomed" in image.get_attribute("class")
    assert image.bounding_box()["width"] > box["width"]
    image.click()
    assert "zoomed" not in image.get_attribute("class")

    article = page.locator("[data-testid=review-item]")
    page.keyboard.press("1")  # a stray digit: nothing happens (a submit marks the item "done" synchronously)
    assert "done" not in article.get_attribute("class")
    assert Item.objects.get(pk=items[0].pk).status == Item.Status.REVIEW
    page.keyboard.press("f")
    page.keyboard.press("Escape")
    page.keyboard.press("2")  # fix mode was left: still nothing
    assert "done" not in article.get_attribute("class")
    assert not ReviewAction.objects.exists()
    page.keyboard.press("f")
    page.keyboard.press("2")  # fix to the second choice ("no" = 0)
    page.wait_for_selector("[data-testid=review-empty]")
    item = Item.objects.get(pk=items[0].pk)
    assert item.is_gold and item.gold_label == 0 and item.status == Item.Status.ACCEPTED
