"""Rough edges met in the first hour (issue 24): texts left in English under zh-Hans, Markdown headings."""

from __future__ import annotations

import pytest
from django.utils import translation

from labeling.views.labeling import instructions_html
from training.models import TrainingRun

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _english():
    """A test client request in another language leaves that language active in the thread (LocaleMiddleware)."""
    from django.utils import translation

    with translation.override("en"):
        yield


def test_instruction_headings_render_as_headings():
    html = instructions_html("# Birds\n\n## What counts\n\nA *bird*.\n\n<script>alert(1)</script>")
    assert "<h1>Birds</h1>" in html and "<h2>What counts</h2>" in html
    assert "<script>" not in html


def test_run_weights_text_is_translated():
    run = TrainingRun(config={})
    assert run.weights == "random initialisation (trained from scratch)"
    with translation.override("zh-hans"):
        assert run.weights == "随机初始化（从零开始训练）"
        assert "ImageNet" in TrainingRun(config={"pretrained": True}).weights
        assert TrainingRun(config={"pretrained": True}).weights.startswith("ImageNet 预训练权重")


def test_api_errors_are_translated(client):
    zh = {"HTTP_ACCEPT_LANGUAGE": "zh-Hans"}
    response = client.post("/api/auth/token/", {"username": "nobody", "password": "x"}, **zh)
    assert response.status_code == 400 and response.json()["detail"] == "用户名或密码错误。", response.content


def test_api_no_such_project_is_translated(client, make_user):
    client.force_login(make_user("rita", role="researcher"))
    response = client.get("/api/projects/nope/review/", HTTP_ACCEPT_LANGUAGE="zh-Hans")
    assert response.status_code == 404
    body = response.json()
    assert body["detail"] == "没有这个项目。" and body["code"] == "project_not_found"


def test_pretrained_with_an_architecture_without_weights_is_one_clear_error(client, make_user):
    from tests.training.factories import shapes_version

    rita = make_user("rita2", role="researcher")
    version = shapes_version(owner=rita, n_per_class=3).version
    client.force_login(rita)
    data = {"architecture": "resnet18", "pretrained": "on", "probe_epochs": 5, "epochs": 2, "batch_size": 8,
            "lr": 0.01, "lr_schedule": "cosine", "weight_decay": 0, "image_size": 32, "augmentation": "none",
            "seed": 0, "device": "cpu"}  # fmt: skip
    page = client.post(f"/training/versions/{version.pk}/start/", data).content.decode()
    assert page.count("Pretrained weights exist only for efficientnet_lite0") == 1
    assert "invalid TrainConfig" not in page
    assert not TrainingRun.objects.exists()


def test_curation_sort_options_read_as_words_in_each_language(client, make_user):
    from tests.helpers.factories import make_project_with_items

    project, _ = make_project_with_items(slug="sorts", n_items=2)
    reviewer = make_user("rev", role="reviewer")
    project.reviewers.add(reviewer)
    client.force_login(reviewer)
    page = client.get(f"/projects/{project.slug}/items/?sort=-votes").content.decode()
    assert '<option value="-votes" selected>most votes first</option>' in page
    page = client.get(f"/projects/{project.slug}/items/", HTTP_ACCEPT_LANGUAGE="zh-Hans").content.decode()
    assert '<option value="posterior">共识最不确定的在前</option>' in page
