"""The review queue in real headless Chromium: keyboard accept (A) and fix (number key), no CSP violations."""

from __future__ import annotations

import pytest

from labeling.models import Item, ReviewAction
from tests.conftest import browser_login
from tests.labeling.quality.qfactories import cast, make_project

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_review_queue_keyboard_accept_and_fix(new_page, make_user):
    project, items = make_project(slug="revui", n_items=2, min_votes=2, max_votes=2, target=0.95)
    reviewer = make_user("rita", role="reviewer")
    project.reviewers.add(reviewer)
    a, b = make_user("ann"), make_user("ben")
    for item in items:
        cast(a, item, 1)
        cast(b, item, 0)
    assert set(Item.objects.filter(project=project).values_list("status", flat=True)) == {"review"}

    page = new_page()
    problems = []
    page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
    browser_login(page, "rita", "pw-rita-123")
    page.goto("/")
    page.click(f"a[href='/projects/{project.slug}/review/']")
    page.wait_for_selector("[data-testid=review-item]")
    page.wait_for_load_state()  # the keys work once the page's module has run, after the markup is there
    assert page.locator("[data-testid=review-item]").count() == 2
    first = page.locator("[data-testid=review-item]").first
    assert "ann" in first.inner_text() and "ben" in first.inner_text()  # every vote with its annotator

    page.keyboard.press("a")
    page.wait_for_selector(".msg-success")
    page.wait_for_load_state()
    assert "accepted" in page.inner_text(".messages")
    assert Item.objects.get(pk=items[0].pk).status == Item.Status.ACCEPTED
    assert page.locator("[data-testid=review-item]").count() == 1

    page.keyboard.press("f")  # fix mode, then the first choice ("yes" = 1)
    page.keyboard.press("1")
    page.wait_for_selector("[data-testid=review-empty]")
    fixed = Item.objects.get(pk=items[1].pk)
    assert fixed.is_gold and fixed.gold_label == 1 and fixed.status == Item.Status.ACCEPTED
    assert list(ReviewAction.objects.order_by("id").values_list("action", flat=True)) == ["accept", "fix"]
    assert not [p for p in problems if "Content Security Policy" in p], problems
