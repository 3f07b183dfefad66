"""The Chinese (zh-Hans) interface: Accept-Language and the header's switcher pick the language of every page, the
JS catalogue and the API's error texts; the API's codes and what researchers wrote (category names, definitions)
stay as they are."""

from __future__ import annotations

import json
import re
import uuid

import pytest
from django.test import Client

from labeling.models import Project
from tests.helpers.factories import make_project_with_items

pytestmark = pytest.mark.django_db

ZH = {"HTTP_ACCEPT_LANGUAGE": "zh-Hans"}


def _html(response) -> str:
    assert response.status_code == 200, response.status_code
    return response.content.decode()


def _scripts_are_files_or_data(html: str) -> None:
    """CSP (script-src 'self'): every script is a file of ours or a JSON data block, never inline code."""
    for tag in re.findall(r"<script\b[^>]*>", html):
        assert "src=" in tag or 'type="application/json"' in tag, tag


def test_login_page_in_chinese_for_an_anonymous_browser():
    html = _html(Client().get("/accounts/login/", **ZH))
    assert '<html lang="zh-hans">' in html
    assert "<h1>登录</h1>" in html and "忘记密码？" in html and "创建账号" in html
    assert "用户名" in html  # the auth form's own label, from Django's zh_Hans catalogue
    for english in ("Forgot your password?", "Create an account", ">Log in<", ">Sign up<"):
        assert english not in html
    _scripts_are_files_or_data(html)


def test_english_stays_the_default():
    html = _html(Client().get("/accounts/login/"))
    assert '<html lang="en">' in html and "Forgot your password?" in html and "忘记密码" not in html


def test_volunteer_home_and_labeling_page_in_chinese(client, make_user):
    project, _ = make_project_with_items(slug="zh-verify", n_items=4, categories=("owl",))
    client.force_login(make_user("li"))
    home = _html(client.get("/", **ZH))
    assert "欢迎，li" in home and "你的角色： 志愿者" in home
    assert "还剩 4 个待你标注" in home and "(验证 · " in home and "去标注" in home
    assert "Your roles" not in home and "left for you" not in home

    label = _html(client.get(f"/projects/{project.slug}/label/", **ZH))
    for chinese in ("说明与快捷键", "提交", "跳过", "排行榜", "选出所有包含该类别的图片"):
        assert chinese in label
    for english in ("Instructions and shortcuts", ">Submit", ">Skip", "Leaderboard<"):
        assert english not in label
    # The JS catalogue comes before the page's modules, under a URL that names the language.
    catalogue = label.index('src="/jsi18n/?l=zh-hans"')
    assert catalogue < label.index("labeling/label_main.js")
    _scripts_are_files_or_data(label)


def test_researcher_project_list_and_messages_in_chinese(client, make_user):
    owner = make_user("wang", role="researcher")
    make_project_with_items(slug="zh-list", n_items=2, owner=owner)
    client.force_login(owner)
    projects = _html(client.get("/projects/", **ZH))
    assert "<h1>你的项目</h1>" in projects and "新建项目" in projects and "可见范围" in projects
    assert "验证（图片网格：图中是否有该类别？）" in projects  # the task type's label from the model's choices
    assert "Your projects" not in projects and "Visibility" not in projects

    response = client.post(
        "/projects/new/",
        {"name": "鸟类", "slug": "birds-zh", "task_type": "verify", "categories": "sparrow", "min_votes": 3,
         "gold_rate": 0.1, "visibility": "public"},
        follow=True,
        **ZH,
    )  # fmt: skip
    assert "项目 鸟类 已创建。" in _html(response)


def test_a_logged_in_volunteer_gets_accept_language_too(make_user):
    client = Client()
    client.force_login(make_user("zhang"))
    assert "你的个人资料" in _html(client.get("/profile/", **ZH))
    assert "Your profile" in _html(client.get("/profile/", HTTP_ACCEPT_LANGUAGE="en"))


def test_the_switcher_sets_the_language_and_it_sticks(make_user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(make_user("chen"))
    home = _html(client.get("/"))
    assert "Welcome, chen" in home
    switcher = re.search(r'<span[^>]*data-testid="language-switcher".*?</span>', home, re.S).group(0)
    assert 'action="/i18n/setlang/"' in switcher and 'name="csrfmiddlewaretoken"' in switcher
    assert 'value="zh-hans"' in switcher and 'value="en"' not in switcher  # only the other language is offered
    assert 'value="简体中文"' in switcher  # named in its own language

    without_token = client.post("/i18n/setlang/", {"language": "zh-hans", "next": "/profile/"})
    assert without_token.status_code == 403
    token = client.cookies["csrftoken"].value
    response = client.post("/i18n/setlang/", {"language": "zh-hans", "next": "/profile/", "csrfmiddlewaretoken": token})
    assert response.status_code == 302 and response["Location"] == "/profile/"
    assert client.cookies["django_language"].value == "zh-hans"

    # The cookie wins over the browser's Accept-Language, request after request, until switched back.
    for path in ("/", "/profile/", "/accounts/token/"):
        html = _html(client.get(path, HTTP_ACCEPT_LANGUAGE="en"))
        assert '<html lang="zh-hans">' in html and "退出登录" in html and "Log out" not in html
    zh_switcher = re.search(r'<span[^>]*data-testid="language-switcher".*?</span>', _html(client.get("/")), re.S)
    assert 'value="en"' in zh_switcher.group(0) and 'value="English"' in zh_switcher.group(0)
    client.post("/i18n/setlang/", {"language": "en", "next": "/", "csrfmiddlewaretoken": token})
    assert "Welcome, chen" in _html(client.get("/", **ZH))


def test_javascript_catalogue_is_a_script_file_in_the_requested_language():
    zh = Client().get("/jsi18n/?l=zh-hans", **ZH)
    assert zh.status_code == 200 and zh["Content-Type"].startswith("text/javascript")
    body = zh.content.decode()  # the catalogue is JSON in the script: non-ASCII text as \\u escapes
    assert json.dumps("正在核对你的回答…") in body and json.dumps("这张图片里有“%(category)s”吗？") in body
    assert "script-src 'self'" in zh["Content-Security-Policy"]
    assert "max-age=3600" in zh["Cache-Control"]
    assert json.dumps("正在核对你的回答…") not in Client().get("/jsi18n/?l=en").content.decode()


def test_category_names_and_definitions_stay_as_written(client, make_user):
    """Names that happen to be msgids of the interface ("Gold", "None", "Open") must not be translated."""
    owner = make_user("zhou", role="researcher")
    project, _ = make_project_with_items(
        slug="zh-names", task_type=Project.TaskType.CLASSIFY, n_items=3, categories=("Gold", "None", "Open"),
        owner=owner,
    )  # fmt: skip
    project.categories.filter(name="Gold").update(definition="Done")
    project.categories.exclude(name="Gold").update(definition="")
    client.force_login(owner)
    detail = _html(client.get(f"/projects/{project.slug}/", **ZH))
    assert "<li><strong>Gold</strong> — Done</li>" in detail
    assert "<li><strong>None</strong></li>" in detail and "<li><strong>Open</strong></li>" in detail
    label = _html(client.get(f"/projects/{project.slug}/label/", **ZH))
    config = re.search(r'<script id="label-config" type="application/json">(.*?)</script>', label, re.S).group(1)
    batch = client.get(f"/api/projects/{project.slug}/next?n=1", **ZH).json()
    assert sorted(c["name"] for c in batch["categories"]) == ["Gold", "None", "Open"], config
    assert [c["definition"] for c in batch["categories"] if c["name"] == "Gold"] == ["Done"]


def test_api_error_detail_is_translated_and_its_code_is_not(client, make_user):
    project, items = make_project_with_items(slug="zh-api", n_items=2, categories=("owl",))
    client.force_login(make_user("sun"))
    answer = {"item_id": items[0].id, "answer": {"label": 1}, "submission_id": str(uuid.uuid4())}
    body = client.post(
        f"/api/projects/{project.slug}/answers", {"answers": [answer]}, content_type="application/json", **ZH
    ).json()
    result = body["results"][0]
    assert result["ok"] is False and result["code"] == "not_assigned"
    assert result["detail"] == "这个条目没有分配给你。"
