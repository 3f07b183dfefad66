"""The Chinese interface in headless Chromium: the header's switcher turns the labeling page (server-rendered and
JS-rendered texts) into Chinese and it stays so; a browser asking for zh-Hans gets the practice feedback in Chinese.
Labeling is by keyboard only."""

from __future__ import annotations

import pytest

from labeling.models import Annotation, Category, Item, Project
from tests.conftest import browser_login
from tests.helpers.factories import make_project_with_items

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _urlconf_loaded():
    """Import every view module before the browser's first request (some pull in heavy libraries)."""
    from django.urls import resolve

    resolve("/")


def test_switch_to_chinese_then_label_a_verify_grid_by_keyboard(new_page, make_user):
    project, _ = make_project_with_items(slug="zh-grid", n_items=30, categories=("owl",), needed_votes=1)
    make_user("mei")
    page = new_page()
    browser_login(page, "mei", "pw-mei-123")
    assert "Welcome, mei" in page.inner_text("main")

    page.click("[data-testid=language-zh-hans]")  # the header's switcher: a POST, back to the same page
    page.wait_for_selector("html[lang=zh-hans]")
    assert "欢迎，mei" in page.inner_text("main")

    page.goto(f"/projects/{project.slug}/label/")  # the choice sticks (language cookie)
    page.wait_for_selector("[data-testid=tile]")
    assert page.inner_text("#verify-question") == "这张图片里有“owl”吗？"  # the name as the researcher wrote it
    assert page.inner_text("[data-testid=verify-all-yes]").endswith("全部为是")
    assert page.inner_text("[data-testid=submit]").startswith("提交")
    first_ids = page.eval_on_selector_all("[data-testid=tile]", "tiles => tiles.map(t => t.dataset.itemId)")

    page.keyboard.press("Space")
    page.keyboard.press("Enter")
    page.wait_for_function(
        "n => document.getElementById('label-status').textContent === `已保存 ${n} 个回答。`", arg=len(first_ids)
    )
    page.wait_for_function(
        "ids => { const t = document.querySelector('[data-testid=tile]');"
        " return t && !ids.includes(t.dataset.itemId); }",
        arg=first_ids,
    )
    assert Annotation.objects.filter(item__project=project).count() == len(first_ids)
    page.keyboard.press("s")
    page.wait_for_function("() => document.getElementById('label-status').textContent === '已跳过。'")


def test_practice_feedback_in_chinese_for_a_zh_hans_browser(new_page, make_user):
    project, _ = make_project_with_items(
        slug="zh-practice", task_type=Project.TaskType.CLASSIFY, n_items=4, gold=3, categories=("red", "green"),
        gold_rate=0.5, qualification_size=1,
    )  # fmt: skip
    key_of = {c.pk: str(i + 1) for i, c in enumerate(Category.objects.filter(project=project).order_by("id"))}
    make_user("tao")
    page = new_page()
    page.set_extra_http_headers({"Accept-Language": "zh-Hans,zh;q=0.9"})  # no cookie: the browser's language
    browser_login(page, "tao", "pw-tao-123")
    page.goto(f"/projects/{project.slug}/label/")
    page.wait_for_selector(".classify-image")
    assert "都不是 / 不确定" in page.inner_text(".classify-list")

    src = page.get_attribute(".classify-image", "src")
    practice = Item.objects.get(project=project, image__sha256=src.rsplit("/", 1)[-1])
    assert practice.is_gold
    page.keyboard.press(key_of[practice.gold_label])
    page.wait_for_selector("[data-testid=practice-feedback]")
    feedback = page.inner_text("[data-testid=practice-feedback]")
    assert "练习：1 题答对 1 题" in feedback and "✓ 正确" in feedback and "正确答案：" in feedback
    assert "新志愿者会先做几道已知答案的练习题。" in feedback and "Practice" not in feedback
    assert page.inner_text("[data-testid=practice-continue]") == "继续 任意键"
    page.keyboard.press("Enter")
    page.wait_for_selector("[data-testid=practice-feedback]", state="detached")
    page.wait_for_selector(".classify-image")
    page.eval_on_selector("#label-status", "el => { el.textContent = ''; }")  # the practice answer's message is gone
    page.keyboard.press("n")
    page.wait_for_function("() => document.getElementById('label-status').textContent === '已保存 1 个回答。'")
    assert Annotation.objects.filter(item__project=project, user__username="tao").count() == 2
