"""Practice with feedback in headless Chromium: a new volunteer's qualification items show the right answer after
each submission until any key is pressed; gold mixed into later work moves on at once like any other item."""

from __future__ import annotations

import time

import pytest

from labeling.models import Annotation, Category, Item, Project
from tests.conftest import browser_login
from tests.helpers.factories import make_project_with_items

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

FEEDBACK = "[data-testid=practice-feedback]"


@pytest.fixture(autouse=True)
def _urlconf_loaded():
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


def _item_on_screen(page, project: Project) -> Item:
    src = page.get_attribute(".classify-image", "src")
    return Item.objects.select_related("image").get(project=project, image__sha256=src.rsplit("/", 1)[-1])


def test_classify_practice_shows_the_right_answer_then_later_gold_does_not(new_page, make_user):
    project, _ = make_project_with_items(slug="prb", task_type=Project.TaskType.CLASSIFY, n_items=6, gold=4,
                                         categories=("red", "green", "blue"), gold_rate=0.5,
                                         qualification_size=2)  # fmt: skip
    names = list(Category.objects.filter(project=project).order_by("id").values_list("name", flat=True))
    key_of = {c.pk: str(i + 1) for i, c in enumerate(Category.objects.filter(project=project).order_by("id"))}
    make_user("nova")
    page = new_page()
    browser_login(page, "nova", "pw-nova-123")
    page.goto(f"/projects/{project.slug}/label/")
    page.wait_for_selector(".classify-image")

    # Practice 1: the right category by its number key; the feedback waits for any key.
    first = _item_on_screen(page, project)
    assert first.is_gold
    page.keyboard.press(key_of[first.gold_label])
    page.wait_for_selector(FEEDBACK)
    card = page.locator("[data-testid=practice-card]")
    assert card.count() == 1 and card.get_attribute("data-correct") == "true"
    assert "Practice: 1 of 1 right" in page.inner_text(FEEDBACK)
    assert page.is_disabled("#submit-btn")
    page.keyboard.press("x")  # any key goes on
    page.wait_for_selector(FEEDBACK, state="detached")
    page.wait_for_selector(".classify-image")

    # Practice 2: a wrong answer; the feedback names the right category; Enter goes on.
    second = _item_on_screen(page, project)
    assert second.is_gold and second.pk != first.pk
    wrong = next(pk for pk in key_of if pk != second.gold_label)
    page.keyboard.press(key_of[wrong])
    page.wait_for_selector(FEEDBACK)
    assert page.get_attribute("[data-testid=practice-card]", "data-correct") == "false"
    expected = names[list(key_of).index(second.gold_label)]
    assert page.inner_text(".practice-expected") == expected
    page.keyboard.press("Enter")
    page.wait_for_selector(FEEDBACK, state="detached")

    # Later work: gold is mixed in (gold_rate 0.5) and every answer moves on at once, with no feedback.
    answered_gold = 0
    for _ in range(5):
        page.wait_for_selector(".classify-image")
        item = _item_on_screen(page, project)
        answered_gold += item.is_gold
        before = Annotation.objects.filter(item__project=project).count()
        page.keyboard.press("1")
        wait_for(lambda b=before: Annotation.objects.filter(item__project=project).count() > b)
        assert page.locator(FEEDBACK).count() == 0
        if page.locator("[data-testid=no-work]").count():
            break
    assert answered_gold >= 1, "no gold was served after the practice"
    assert page.locator(FEEDBACK).count() == 0
    assert Annotation.objects.filter(item__project=project, item__is_gold=True).count() >= 3


def test_verify_practice_grid_marks_each_tile(new_page, make_user):
    project, _ = make_project_with_items(slug="prv", n_items=20, gold=3, categories=("owl",), qualification_size=3)
    make_user("vic")
    page = new_page()
    browser_login(page, "vic", "pw-vic-123")
    page.goto(f"/projects/{project.slug}/label/")
    page.wait_for_selector("[data-testid=tile]")
    tiles = page.locator("[data-testid=tile]")
    assert tiles.count() == 3  # the qualification grid: the three practice items
    page.keyboard.press("Space")  # "yes" on the first tile only; the gold answer is yes on all three
    page.keyboard.press("Enter")
    page.wait_for_selector(FEEDBACK)
    cards = page.locator("[data-testid=practice-card]")
    assert [cards.nth(i).get_attribute("data-correct") for i in range(3)] == ["true", "false", "false"]
    assert "Practice: 1 of 3 right" in page.inner_text(FEEDBACK)
    assert "yes, it shows owl" in page.inner_text(FEEDBACK)
    page.click("[data-testid=practice-continue]")  # the button works too
    page.wait_for_selector(FEEDBACK, state="detached")
    page.wait_for_selector("[data-testid=tile]")
    regular = page.locator("[data-testid=tile]")
    assert regular.count() >= 12
    ids = {int(regular.nth(i).get_attribute("data-item-id")) for i in range(regular.count())}
    assert not Item.objects.filter(pk__in=ids, is_gold=True).exists()


def test_box_practice_draws_the_expected_boxes(new_page, make_user):
    # 64x48 images; the factory's box gold is the centre half [16, 12, 32, 24]
    project, _ = make_project_with_items(slug="prx", task_type=Project.TaskType.BOXES, n_items=3, gold=1,
                                         categories=("owl",), qualification_size=1)  # fmt: skip
    make_user("bo")
    page = new_page()
    browser_login(page, "bo", "pw-bo-123")
    page.goto(f"/projects/{project.slug}/label/")
    page.wait_for_selector("[data-testid=boxes-image]")
    rect = page.locator("[data-testid=boxes-image]").bounding_box()
    page.mouse.move(rect["x"] + 0.25 * rect["width"] + 1, rect["y"] + 0.25 * rect["height"] + 1)
    page.mouse.down()
    page.mouse.move(rect["x"] + 0.5 * rect["width"], rect["y"] + 0.5 * rect["height"])
    page.mouse.move(rect["x"] + 0.75 * rect["width"] - 1, rect["y"] + 0.75 * rect["height"] - 1)
    page.mouse.up()
    page.keyboard.press("Enter")
    page.wait_for_selector(FEEDBACK)
    assert page.get_attribute("[data-testid=practice-card]", "data-correct") == "true"
    assert page.locator(".practice-stage rect.box.expected").count() == 1
    assert page.inner_text(".practice-expected") == "1 box"
    page.keyboard.press("Space")
    page.wait_for_selector(FEEDBACK, state="detached")
    page.wait_for_selector("[data-testid=boxes-image]")
