"""Device "cuda" on workers without CUDA (issue 24: accepted, then failed at the run's start). Each training worker
reports its CUDA devices when it starts and says when it stops; a run asking for cuda is refused at once, by the
page, the API and the command, when no worker up has CUDA, and accepted when one has or when none has reported."""

from __future__ import annotations

import socket
import time

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import translation

from tests.training.factories import shapes_version
from training.models import TrainingRun, TrainingWorker
from training.services.workers import training_worker_report, training_worker_stopped

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _english():
    with translation.override("en"):
        yield


@pytest.fixture
def setup(make_user):
    TrainingWorker.objects.all().delete()  # a session worker of an earlier test may have reported itself
    rita = make_user("rita", role="researcher")
    return rita, shapes_version(owner=rita, n_per_class=3)


def start(client, version, device):
    from training.views.forms import arch_defaults

    data = {**arch_defaults()["small_cnn"], "architecture": "small_cnn", "device": device}
    data = {k: v for k, v in data.items() if v is not None and v is not False}
    return client.post(reverse("training_start", kwargs={"version_pk": version.pk}), data)


def test_cuda_is_refused_when_no_worker_up_has_it(setup, client, api_client):
    rita, s = setup
    training_worker_report(hostname="celery@cpu-box", cuda_devices=0)
    client.force_login(rita)
    page = start(client, s.version, "cuda")
    assert page.status_code == 200  # the form again, with the reason
    assert "No training worker has CUDA (running now: celery@cpu-box): choose the device auto or cpu." in (
        page.content.decode()
    )
    assert not TrainingRun.objects.exists()
    api_client.force_authenticate(rita)
    api = api_client.post("/api/training/runs/start/", {"version": s.version.pk, "architecture": "small_cnn",
                                                  "device": "cuda"}, format="json")  # fmt: skip
    assert api.status_code == 400 and api.json()["code"] == "no_cuda_worker"
    with pytest.raises(CommandError, match="No training worker has CUDA"):
        call_command("train", "--version", str(s.version.pk), "--arch", "small_cnn", "--device", "cuda")
    assert not TrainingRun.objects.exists()
    assert start(client, s.version, "auto").status_code == 302  # auto and cpu are always accepted


def test_cuda_is_accepted_when_a_worker_has_it_or_none_has_reported(setup, client):
    rita, s = setup
    client.force_login(rita)
    assert start(client, s.version, "cuda").status_code == 302  # nothing reported: unknown, accepted
    training_worker_report(hostname="celery@cpu-box", cuda_devices=0)
    training_worker_report(hostname="celery@gpu-box", cuda_devices=2, device_name="NVIDIA H100")
    assert start(client, s.version, "cuda").status_code == 302
    training_worker_stopped(hostname="celery@gpu-box")
    assert start(client, s.version, "cuda").status_code == 200  # the GPU worker went away
    training_worker_stopped(hostname="celery@cpu-box")
    assert start(client, s.version, "cuda").status_code == 302  # none up: unknown again
    assert TrainingRun.objects.filter(device_requested="cuda").count() == 3


def test_the_refusal_reads_in_chinese(setup, client):
    rita, s = setup
    training_worker_report(hostname="celery@cpu-box", cuda_devices=0)
    client.force_login(rita)
    from training.views.forms import arch_defaults

    data = {**arch_defaults()["small_cnn"], "architecture": "small_cnn", "device": "cuda"}
    data = {k: v for k, v in data.items() if v is not None and v is not False}
    page = client.post(reverse("training_start", kwargs={"version_pk": s.version.pk}), data,
                       HTTP_ACCEPT_LANGUAGE="zh-Hans").content.decode()  # fmt: skip
    assert "没有训练工作进程有 CUDA（正在运行：celery@cpu-box）" in page


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_real_training_worker_reports_itself_and_its_stop():
    import torch

    from tests.helpers.services import require_broker
    from tests.helpers.workers import WorkerProcess

    require_broker()

    worker = WorkerProcess(queues="gpu").start()
    name = worker.proc.args[worker.proc.args.index("-n") + 1].replace("%h", socket.gethostname())
    try:
        deadline = time.monotonic() + 90
        while not TrainingWorker.objects.filter(hostname=name).exists():
            assert time.monotonic() < deadline and worker.proc.poll() is None, worker.log()
            time.sleep(0.3)
        row = TrainingWorker.objects.get(hostname=name)
        expected = torch.cuda.device_count() if torch.cuda.is_available() else 0
        assert row.stopped_at is None and row.cuda_devices == expected
    finally:
        worker.stop()
    assert TrainingWorker.objects.get(hostname=name).stopped_at is not None


def test_the_probe_asks_pytorch_in_a_fresh_process():
    import torch

    from training.services.workers import torch_cuda_probe

    n, name = torch_cuda_probe()
    assert n == (torch.cuda.device_count() if torch.cuda.is_available() else 0)
    assert (name != "") == (n > 0)
