"""Ingest rejections read in the page's language (issue 24: they were English under zh-Hans): each reason code has a
sentence, translated; the worker's recorded detail stays beside it, and the codes stay as the API gives them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.urls import reverse
from django.utils import translation

from annotate.i18n import REASON_TEXT

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(autouse=True)
def _english():
    with translation.override("en"):
        yield


def test_every_rejection_code_has_a_sentence():
    code = re.compile(r"""(?:Rejected|UnsafeURL)\(\s*["']([a-z_]+)["']|reason_code\s*=\s*["']([a-z_]+)["']""")
    used = set()
    for path in (ROOT / "labeling").rglob("*.py"):
        if "migrations" not in path.parts:
            used |= {a or b for a, b in code.findall(path.read_text())}
    assert used and used - set(REASON_TEXT) == set()


def test_the_batch_page_and_its_status_say_why_in_chinese(run_folder, client, researcher):
    batch = run_folder({"heron/empty.jpg": b"", "heron/notes.jpg": b"hello, not an image"})
    assert batch.rejected == 2
    client.force_login(researcher)
    url = reverse("batch_detail", kwargs={"pk": batch.pk})
    english = client.get(url).content.decode()
    assert "The file is empty. <code>empty</code>: 1" in english
    assert "Not a JPEG, PNG, WebP, GIF, BMP or TIFF image. <code>not_an_image</code>" in english
    chinese = client.get(url, HTTP_ACCEPT_LANGUAGE="zh-Hans").content.decode()
    assert "文件为空。 <code>empty</code>: 1" in chinese
    assert "不是 JPEG、PNG、WebP、GIF、BMP 或 TIFF 图片。 <code>not_an_image</code>" in chinese
    assert "详情（按记录原文）" in chinese and "The file is empty." not in chinese
    status = client.get(reverse("batch_status", kwargs={"pk": batch.pk}), HTTP_ACCEPT_LANGUAGE="zh-Hans").json()
    assert status["rejections"] == {"empty": 1, "not_an_image": 1}  # codes, as the API and the CLI give them
    assert status["reasons"]["empty"] == "文件为空。"
