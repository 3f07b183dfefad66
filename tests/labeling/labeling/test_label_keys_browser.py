"""Keyboard mapping of the labeling page in Chromium: classify 1-9 and 0 cover ten categories, N is none; an
empty classify submit says so; verify grids have "all yes" (A) and invert (I)."""

from __future__ import annotations

import time

import pytest

from labeling.models import Annotation, Project
from tests.conftest import browser_login
from tests.helpers.factories import make_project_with_items

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


@pytest.fixture(autouse=True)
def _urlconf_loaded():
    from django.urls import resolve

    resolve("/")


def wait_for(predicate, timeout: float = 15.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.1)
    raise AssertionError("condition not met in time")


def _next_image(page, key: str) -> None:
    src = page.get_attribute(".classify-image", "src")
    page.keyboard.press(key)
    page.wait_for_function(
        "src => !document.querySelector('.classify-image') ||"
        " document.querySelector('.classify-image').getAttribute('src') !== src",
        arg=src,
    )


def test_ten_categories_one_key_each(new_page, make_user):
    project, _ = make_project_with_items(slug="digits", task_type=Project.TaskType.CLASSIFY, n_items=4,
                                         categories=DIGITS, needed_votes=1)  # fmt: skip
    make_user("dora")
    page = new_page()
    browser_login(page, "dora", "pw-dora-123")
    page.goto(f"/projects/{project.slug}/label/")
    page.wait_for_selector(".classify-image")
    keys = page.eval_on_selector_all(".classify-list button kbd", "ks => ks.map(k => k.textContent)")
    # Issue 22 (13): categories named by digits get their own digit (1 used to pick "zero"); none/unsure is N
    assert keys == ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "N"]
    assert page.locator(".classify-list button").nth(0).inner_text().endswith("zero")
    assert page.locator(".classify-list button").nth(1).inner_text().startswith("1")
    assert page.locator(".classify-list button").nth(1).inner_text().endswith("one")
    _next_image(page, "1")
    _next_image(page, "0")
    _next_image(page, "n")
    wait_for(lambda: Annotation.objects.filter(item__project=project).count() == 3)
    ids = dict(project.categories.values_list("name", "id"))
    labels = sorted(Annotation.objects.filter(item__project=project).values_list("label", flat=True))
    assert labels == sorted([ids["one"], ids["zero"], -1])


def test_classify_submit_with_nothing_picked_says_so(new_page, make_user):
    project, _ = make_project_with_items(slug="empty", task_type=Project.TaskType.CLASSIFY, n_items=2,
                                         categories=("red", "green"), needed_votes=1)  # fmt: skip
    make_user("eve")
    page = new_page()
    browser_login(page, "eve", "pw-eve-123")
    page.goto(f"/projects/{project.slug}/label/")
    page.wait_for_selector(".classify-image")
    hint = page.locator("[data-testid=classify-hint]")
    assert not hint.is_visible()
    page.click("[data-testid=submit]")
    assert hint.is_visible() and "Pick a category first" in hint.inner_text()
    page.keyboard.press("Enter")
    assert hint.is_visible()
    keys = page.eval_on_selector_all(".classify-list button kbd", "ks => ks.map(k => k.textContent)")
    assert keys == ["1", "2", "0"]  # fewer than ten: 0 stays none / unsure
    assert Annotation.objects.filter(item__project=project).count() == 0


def test_verify_all_yes_and_invert(new_page, make_user):
    project, _ = make_project_with_items(slug="allyes", n_items=12, categories=("owl",), needed_votes=1)
    make_user("finn")
    page = new_page()
    browser_login(page, "finn", "pw-finn-123")
    page.goto(f"/projects/{project.slug}/label/")
    page.wait_for_selector("[data-testid=tile]")
    tiles = page.locator("[data-testid=tile]")
    pressed = lambda: [tiles.nth(i).get_attribute("aria-pressed") == "true" for i in range(tiles.count())]  # noqa: E731
    assert not any(pressed())  # every tile starts as "no"
    page.keyboard.press("a")
    assert all(pressed())
    page.keyboard.press("i")
    assert not any(pressed())
    page.keyboard.press("Space")  # the focused first tile
    page.click("[data-testid=verify-invert]")
    state = pressed()
    assert state[0] is False and all(state[1:])
    ids = [int(tiles.nth(i).get_attribute("data-item-id")) for i in range(tiles.count())]
    page.keyboard.press("Enter")
    wait_for(lambda: Annotation.objects.filter(item__project=project).count() == len(ids))
    labels = dict(Annotation.objects.filter(item__project=project).values_list("item_id", "label"))
    assert labels[ids[0]] == 0 and all(labels[i] == 1 for i in ids[1:])
