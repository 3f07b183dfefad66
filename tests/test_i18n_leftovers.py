"""zh-Hans leftovers met in the first hour (issue 24): webhook event labels, ingest rejections, the run page, the
dataset card. Each page is read in English and in Chinese; wire names (event names, reason codes) stay as they are."""

from __future__ import annotations

import pytest
from django.utils import translation

from labeling.models import WebhookDelivery, WebhookEndpoint
from tests.labeling.datasets import factories as f

pytestmark = pytest.mark.django_db
ZH = {"HTTP_ACCEPT_LANGUAGE": "zh-Hans"}


@pytest.fixture(autouse=True)
def _english():
    """A test client request in another language leaves that language active in the thread (LocaleMiddleware)."""
    with translation.override("en"):
        yield


def test_webhook_event_labels_and_delivery_states_are_translated(client, make_user):
    owner = make_user("rita", role="researcher")
    project = f.project(owner, slug="birds")
    endpoint = WebhookEndpoint.objects.create(project=project, url="https://h.example.org/x", secret="s" * 64,
                                              events=["export.ready", "training_run.finished"])  # fmt: skip
    WebhookDelivery.objects.create(endpoint=endpoint, event="ping", status="delivered", attempts=1)
    client.force_login(owner)
    english = client.get("/projects/birds/webhooks/").content.decode()
    assert "export ready (done or failed), training run finished (succeeded, failed or cancelled)" in english
    assert "dataset version created" in english  # the form's checkboxes
    assert 'test event <code class="muted">ping</code>' in english and "<td>delivered</td>" in english
    chinese = client.get("/projects/birds/webhooks/", **ZH).content.decode()
    assert "导出已就绪（完成或失败）, 训练运行已结束（成功、失败或取消）" in chinese
    assert "已创建数据集版本" in chinese and "导入批次已结束（完成或失败）" in chinese
    assert '测试事件 <code class="muted">ping</code>' in chinese and "<td>已送达</td>" in chinese
    assert "export ready" not in chinese and "test event" not in chinese


def test_the_run_page_says_how_the_weights_began_in_chinese(client, make_user):
    from tests.training.factories import shapes_version
    from training.models import TrainingRun

    rita = make_user("rita", role="researcher")
    s = shapes_version(owner=rita, n_per_class=3)
    run = TrainingRun.objects.create(version=s.version, created_by=rita, architecture="small_cnn",
                                     config={"pretrained": False})  # fmt: skip
    client.force_login(rita)
    english = client.get(f"/training/runs/{run.pk}/").content.decode()
    assert "random initialisation (trained from scratch)" in english
    chinese = client.get(f"/training/runs/{run.pk}/", **ZH).content.decode()
    assert "随机初始化（从零开始训练）" in chinese and "random initialisation" not in chinese
