"""The dataset card in the creator's language (issue 24: it was English only). The card is written once, with the
version, in the language of the researcher's request (English from the command line); it is the README.md of every
export and never changes, so a reader in another language reads it as written, with the page around it in theirs."""

import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import translation

from labeling.models import DatasetVersion

pytestmark = pytest.mark.django_db
FORM = {"train": 0.8, "val": 0.1, "test": 0.1, "seed": 1, "include_gold": "on"}


@pytest.fixture(autouse=True)
def _english():
    with translation.override("en"):
        yield


def test_a_version_created_in_chinese_has_a_chinese_card_that_stays(classify_project, researcher):
    web = Client()
    web.force_login(researcher)
    web.post("/projects/pets/datasets/", {**FORM, "name": "zh"}, HTTP_ACCEPT_LANGUAGE="zh-Hans")
    card = DatasetVersion.objects.get(name="zh").card
    assert card.startswith(f"# {classify_project.name} — 数据集版本 1")
    for heading in ("## 采集", "## 质量控制", "## 筛选", "## 统计", "## 来源与许可", "## 已知局限"):
        assert heading in card
    assert "- 包含金标准条目：是" in card and "| 索引 | 类别 | 定义 | 训练 | 验证 | 测试 | 合计 |" in card
    assert "Known limitations" not in card and "dataset version" not in card

    english_page = web.get(f"/datasets/{DatasetVersion.objects.get(name='zh').pk}/").content.decode()
    assert '<h2 id="card-h">Dataset card</h2>' in english_page and "in the language of the researcher" in english_page
    assert "<h2>已知局限</h2>" in english_page  # published as written: never re-rendered for a reader

    web.post("/projects/pets/datasets/", {**FORM, "name": "en"})
    assert "## Known limitations" in DatasetVersion.objects.get(name="en").card
    zh_page = web.get(f"/datasets/{DatasetVersion.objects.get(name='en').pk}/", HTTP_ACCEPT_LANGUAGE="zh-Hans")
    assert '<h2 id="card-h">数据集卡片</h2>' in zh_page.content.decode()


def test_the_command_line_writes_an_english_card(classify_project):
    call_command("dataset_create", "--project", "pets", "--name", "cli", stdout=None)
    assert "## Known limitations" in DatasetVersion.objects.get(name="cli").card
