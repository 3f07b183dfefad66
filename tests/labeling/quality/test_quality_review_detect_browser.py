"""The review queue of a detection project in headless Chromium: the reviewer selects a consensus box, relabels it
by number key, moves it with the mouse and saves the fix with F; the fix is the item's gold and consensus."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from labeling.models import Item, Lease, Project, ReviewAction
from labeling.services.annotations import annotation_submit
from tests.conftest import browser_login
from tests.helpers.factories import make_project_with_items

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def vote(user, item, boxes):
    Lease.objects.create(item=item, user=user, expires_at=timezone.now() + timedelta(minutes=5))
    annotation_submit(user=user, project=item.project, item_id=item.pk, submission_id=uuid.uuid4(),
                      answer={"boxes": boxes})  # fmt: skip


def test_review_relabels_and_moves_a_box(new_page, make_user):
    project, (item,) = make_project_with_items(slug="detrev", task_type=Project.TaskType.BOXES, box_mode="detect",
                                               n_items=1, categories=("car", "dog"), needed_votes=3, max_votes=3,
                                               width=400, height=300)  # fmt: skip
    car, dog = project.categories.order_by("id").values_list("id", flat=True)
    here = {"x": 100, "y": 60, "w": 120, "h": 90}
    # Two say car, one says dog: the car has its quorum, the dog box joins nothing; at max votes, review.
    for name, category in (("va", car), ("vb", car), ("vc", dog)):
        vote(make_user(name), item, [{**here, "category": category}])
    item.refresh_from_db()
    assert item.status == Item.Status.REVIEW and item.answer["boxes"] == [[100.0, 60.0, 120.0, 90.0, car]]
    reviewer = make_user("rex", role="reviewer")
    project.reviewers.add(reviewer)

    page = new_page()
    problems = []
    page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
    browser_login(page, "rex", "pw-rex-123")
    page.goto(f"/projects/{project.slug}/review/")
    stage = page.locator("[data-testid=review-boxes] [data-testid=boxes-image]")
    stage.scroll_into_view_if_needed()
    rect = stage.bounding_box()
    box = page.locator("[data-testid=review-boxes] rect.box:not(.ghost)")
    assert box.count() == 1 and box.get_attribute("data-category") == str(car)

    def at(x: float, y: float) -> tuple[float, float]:  # original-image pixels -> viewport
        return rect["x"] + x / 400 * rect["width"], rect["y"] + y / 300 * rect["height"]

    page.mouse.click(*at(160, 105))  # select the consensus box
    page.keyboard.press("2")  # relabel: dog
    assert box.get_attribute("data-category") == str(dog)
    page.mouse.move(*at(160, 105))  # drag the selected box 60 px right and 40 px down
    page.mouse.down()
    page.mouse.move(*at(190, 125))
    page.mouse.move(*at(220, 145))
    page.mouse.up()
    page.keyboard.press("f")
    page.wait_for_selector("[data-testid=review-empty]")

    fixed = Item.objects.get(pk=item.pk)
    assert fixed.is_gold and fixed.status == Item.Status.ACCEPTED
    (got,) = fixed.answer["boxes"]
    assert got[4] == dog and fixed.gold_answer == fixed.answer
    for g, want in zip(got[:4], [160, 100, 120, 90], strict=True):
        assert abs(g - want) <= 2, got
    assert list(ReviewAction.objects.values_list("action", flat=True)) == ["fix"]
    assert not [p for p in problems if "Content Security Policy" in p], problems
