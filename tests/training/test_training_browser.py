"""The run pages in headless Chromium: start a run from the form (defaults refill per architecture), then the
detail page draws its curves and heat map under the strict CSP (no console errors)."""

from __future__ import annotations

import time

import pytest

from tests.conftest import browser_login
from tests.training.factories import shapes_version
from tests.training.test_training_api import METRICS
from training.models import TrainingEpoch, TrainingRun
from training.services import run_cancel

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_start_run_and_see_curves(new_page, make_user):
    rita = make_user("rita", role="researcher")
    s = shapes_version(owner=rita, n_per_class=3)
    page = new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    browser_login(page, "rita", "pw-rita-123")
    page.goto(f"/training/versions/{s.version.pk}/start/")
    assert page.input_value("[name=image_size]") == "32"
    page.select_option("[name=architecture]", "efficientnet_lite0")
    page.check("[name=pretrained]")  # the pretrained recipe: a probe, no fine-tune epochs by default
    assert page.input_value("[name=probe_epochs]") == "60" and page.input_value("[name=epochs]") == "0"
    page.uncheck("[name=pretrained]")
    assert page.input_value("[name=epochs]") == "30"
    page.select_option("[name=architecture]", "resnet18")
    assert page.input_value("[name=image_size]") == "224"  # the JS refilled resnet18's defaults
    page.fill("[name=epochs]", "2")
    page.click("[data-testid=start-form] button[type=submit]")
    page.wait_for_url("**/training/runs/*/")
    run = TrainingRun.objects.get(created_by=rita)
    assert run.architecture == "resnet18" and run.config["epochs"] == 2 and run.config["image_size"] == 224
    # "running" when a gpu worker of the session picked it up before the page rendered
    assert page.text_content("[data-testid=run-status]") in ("queued", "running")

    run_cancel(run=run)  # a gpu worker of the session (if any) must not train it; the rows below stand in for one
    deadline = time.monotonic() + 120
    while TrainingRun.objects.get(pk=run.pk).status != "cancelled":  # a running worker stops at a batch boundary
        assert time.monotonic() < deadline, "the cancelled run did not stop"
        time.sleep(0.2)
    # a finished run (rows as a worker writes them): curves, heat map, per-class table. A gpu worker of the
    # session may have recorded epochs before the cancel reached it; the run is terminal now, so no worker
    # writes to it any more and these rows replace whatever it left.
    TrainingEpoch.objects.filter(run=run).delete()
    TrainingRun.objects.filter(pk=run.pk).update(status="succeeded", final_metrics=METRICS, final_split="test",
                                                  device_used="cpu", epochs_done=2)  # fmt: skip
    for e in (1, 2):
        TrainingEpoch.objects.create(run=run, epoch=e, train_loss=1.0 / e, train_acc=0.4 * e, val_loss=1.1 / e,
                                     val_acc=0.35 * e, lr=0.05)  # fmt: skip
    page.goto(f"/training/runs/{run.pk}/")
    assert page.is_visible("[data-testid=cpu-warning]")
    assert page.text_content("[data-testid=per-class]").count("square") == 1
    drawn = page.evaluate(
        """() => ['loss-chart', 'acc-chart', 'confusion-chart'].map(id => {
              const c = document.getElementById(id);
              const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
              return d.some((v, i) => i % 4 === 3 && v > 0);
           })"""
    )
    assert drawn == [True, True, True]
    assert not [e for e in errors if "Content Security Policy" in e or "Refused" in e], errors
