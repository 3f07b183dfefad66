"""Drawing detection boxes in headless Chromium: number keys pick each box's category, Tab selects a box and a key
relabels it, boxes are coloured by category, and the stored answer carries a category per box."""

from __future__ import annotations

import time

import pytest

from labeling.models import Annotation, Project
from tests.conftest import browser_login
from tests.helpers.factories import make_project_with_items

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _urlconf_loaded():
    """Import every view module before the browser's first request (some pull in heavy libraries)."""
    from django.urls import resolve

    resolve("/")


def wait_for(predicate, timeout: float = 15.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("condition not met in time")


def drag(page, rect, fx0: float, fy0: float, fx1: float, fy1: float) -> None:
    """A real mouse drag between two points given as fractions of the displayed image."""
    page.mouse.move(rect["x"] + fx0 * rect["width"], rect["y"] + fy0 * rect["height"])
    page.mouse.down()
    page.mouse.move(rect["x"] + (fx0 + fx1) / 2 * rect["width"], rect["y"] + (fy0 + fy1) / 2 * rect["height"])
    page.mouse.move(rect["x"] + fx1 * rect["width"], rect["y"] + fy1 * rect["height"])
    page.mouse.up()


def test_detection_boxes_get_their_category_by_key(new_page, make_user):
    project, (item,) = make_project_with_items(slug="det", task_type=Project.TaskType.BOXES, box_mode="detect",
                                               n_items=1, categories=("car", "dog", "bike"), needed_votes=1,
                                               width=400, height=300)  # fmt: skip
    car, dog, bike = project.categories.order_by("id").values_list("id", flat=True)
    make_user("dee")
    page = new_page()
    problems = []
    page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
    browser_login(page, "dee", "pw-dee-123")
    page.goto(f"/projects/{project.slug}/label/")
    page.wait_for_selector("[data-testid=boxes-image]")
    palette = page.locator(".box-palette button")
    assert palette.count() == 3 and "1" in palette.nth(0).inner_text() and "car" in palette.nth(0).inner_text()
    rect = page.locator("[data-testid=boxes-image]").bounding_box()

    page.keyboard.press("2")  # dog for the next box
    assert palette.nth(1).get_attribute("aria-pressed") == "true"
    drag(page, rect, 0.1, 0.1, 0.4, 0.4)  # -> [40, 30, 120, 90], a dog
    page.keyboard.press("1")  # the new box is selected: this relabels it as a car, and cars come next
    drag(page, rect, 0.5, 0.5, 0.9, 0.9)  # -> [200, 150, 160, 120], a car
    boxes = page.locator("rect.box:not(.ghost)")
    assert [boxes.nth(i).get_attribute("data-category") for i in range(2)] == [str(car), str(car)]
    page.keyboard.press("Tab")  # the second box is selected; Tab goes round to the first
    page.keyboard.press("3")  # ... which becomes a bike
    assert [boxes.nth(i).get_attribute("data-category") for i in range(2)] == [str(bike), str(car)]
    colours = [boxes.nth(i).evaluate("el => getComputedStyle(el).stroke") for i in range(2)]
    assert colours[0] != colours[1]  # coloured by category
    assert sorted(page.locator("text.box-label").all_text_contents()) == ["bike", "car"]
    drag(page, rect, 0.05, 0.8, 0.1, 0.9)  # a third box (a car), removed again with Delete
    assert boxes.count() == 3
    page.keyboard.press("Delete")
    assert boxes.count() == 2
    page.keyboard.press("Enter")

    wait_for(lambda: Annotation.objects.filter(item=item).exists())
    stored = Annotation.objects.get(item=item).answer["boxes"]
    assert [b[4] for b in stored] == [bike, car] and dog not in [b[4] for b in stored]
    for got, want in zip(stored, [[40, 30, 120, 90], [200, 150, 160, 120]], strict=True):
        assert all(abs(g - w) <= 2 for g, w in zip(got[:4], want, strict=True)), stored
    assert not [p for p in problems if "Content Security Policy" in p], problems
