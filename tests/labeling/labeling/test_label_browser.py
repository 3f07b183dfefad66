"""The labeling page in headless Chromium: verify by keyboard only, classify by number keys, boxes by drag."""

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


def test_verify_grid_by_keyboard_then_next_grid_without_reload(new_page, make_user):
    project, _ = make_project_with_items(slug="kb", n_items=40, categories=("owl",), needed_votes=1)
    make_user("vera")
    page = new_page()
    browser_login(page, "vera", "pw-vera-123")
    page.goto(f"/projects/{project.slug}/label/")
    page.wait_for_selector("[data-testid=tile]")
    tiles = page.locator("[data-testid=tile]")
    assert 12 <= tiles.count() <= 24
    assert "Does this image show “owl”?" in page.inner_text("#verify-question")  # not "contain owl" (issue 24)
    first_ids = [tiles.nth(i).get_attribute("data-item-id") for i in range(tiles.count())]
    page.evaluate("window.__survivor = 'still here'")

    page.keyboard.press("Space")  # tile 0
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("Space")  # tile 2
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Space")  # tile 2 + columns
    pressed = [tiles.nth(i).get_attribute("data-item-id") for i in range(tiles.count())
               if tiles.nth(i).get_attribute("aria-pressed") == "true"]  # fmt: skip
    assert len(pressed) == 3 and first_ids[0] in pressed and first_ids[2] in pressed
    page.keyboard.press("Enter")

    page.wait_for_function(
        "ids => { const t = [...document.querySelectorAll('[data-testid=tile]')];"
        " return t.length > 0 && !ids.includes(t[0].dataset.itemId); }",
        arg=first_ids,
    )
    assert page.evaluate("window.__survivor") == "still here", "the page was reloaded"
    stored = wait_for(lambda: Annotation.objects.filter(item__project=project).count() == len(first_ids))
    assert stored
    labels = dict(Annotation.objects.filter(item__project=project).values_list("item_id", "label"))
    assert {str(k) for k, v in labels.items() if v == 1} == set(pressed)
    assert set(map(str, labels)) == set(first_ids)
    page.wait_for_function("n => document.getElementById('progress-total').textContent.trim() === n",
                           arg=str(len(first_ids)))  # fmt: skip


def test_classify_with_number_keys(new_page, make_user):
    project, _ = make_project_with_items(slug="num", task_type=Project.TaskType.CLASSIFY, n_items=3,
                                             categories=("red", "green", "blue"), needed_votes=1)  # fmt: skip
    make_user("cleo")
    page = new_page()
    browser_login(page, "cleo", "pw-cleo-123")
    page.goto(f"/projects/{project.slug}/label/")
    page.wait_for_selector(".classify-image")
    first = page.get_attribute(".classify-image", "src")
    page.keyboard.press("2")
    page.wait_for_function("src => document.querySelector('.classify-image').getAttribute('src') !== src", arg=first)
    page.keyboard.press("0")
    page.wait_for_selector("[data-testid=no-work], .classify-image")
    wait_for(lambda: Annotation.objects.filter(item__project=project).count() == 2)
    green = project.categories.get(name="green").id
    labels = Annotation.objects.filter(item__project=project).values_list("label", flat=True)
    assert sorted(labels) == sorted([green, -1])


def test_boxes_drawn_by_mouse_are_stored_in_original_pixels(new_page, make_user):
    project, (item,) = make_project_with_items(slug="bx", task_type=Project.TaskType.BOXES, n_items=1,
                                               categories=("car",), needed_votes=1, width=400, height=300)  # fmt: skip
    make_user("bo")
    page = new_page()
    browser_login(page, "bo", "pw-bo-123")
    page.goto(f"/projects/{project.slug}/label/")
    page.wait_for_selector("[data-testid=boxes-image]")
    rect = page.locator("[data-testid=boxes-image]").bounding_box()
    assert abs(rect["width"] - 400) > 20, "the image should be displayed scaled"
    assert abs(rect["width"] / rect["height"] - 4 / 3) < 0.02

    def drag(fx0: float, fy0: float, fx1: float, fy1: float) -> None:
        page.mouse.move(rect["x"] + fx0 * rect["width"], rect["y"] + fy0 * rect["height"])
        page.mouse.down()
        page.mouse.move(rect["x"] + (fx0 + fx1) / 2 * rect["width"], rect["y"] + (fy0 + fy1) / 2 * rect["height"])
        page.mouse.move(rect["x"] + fx1 * rect["width"], rect["y"] + fy1 * rect["height"])
        page.mouse.up()

    drag(0.25, 0.25, 0.75, 0.75)  # -> [100, 75, 200, 150]
    drag(0.05, 0.05, 0.15, 0.15)  # a second box, then removed with Backspace
    assert page.locator("rect.box:not(.ghost)").count() == 2
    page.keyboard.press("Backspace")
    assert page.locator("rect.box:not(.ghost)").count() == 1
    drag(0.5, 0.1, 0.6, 0.2)
    page.keyboard.press("Control+z")  # undo the third box
    assert page.locator("rect.box:not(.ghost)").count() == 1
    page.keyboard.press("Enter")
    wait_for(lambda: Annotation.objects.filter(item=item).exists())
    (box,) = Annotation.objects.get(item=item).answer["boxes"]
    for got, want in zip(box, [100, 75, 200, 150], strict=True):
        assert abs(got - want) <= 2, box
