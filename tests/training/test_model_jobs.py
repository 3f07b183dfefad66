"""Model features from the browser as background jobs (issue 24): predict shows its result and why the model is or
is not a voter; label errors list suspects a researcher relabels or sends to review; every job ends visibly."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from annotate.demo.seed import CLASSIFY
from labeling.models import Item, Project
from training.models import ModelJob, TrainingRun
from training.services.jobs import label_error_act, model_job_execute, model_job_start

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def demo(tmp_path, settings):
    settings.VAR_DIR = tmp_path
    settings.MEDIA_ROOT = tmp_path / "media"
    call_command("demo", "--seed-only", "--per-class", "8")
    return Project.objects.get(slug=CLASSIFY)


@pytest.mark.usefixtures("no_worker")
def test_predict_and_label_error_jobs_from_the_pages(demo, client):
    from django.contrib.auth import get_user_model

    researcher = get_user_model().objects.get(username="researcher")
    client.force_login(researcher)
    run = TrainingRun.objects.get(version__project=demo, status=TrainingRun.Status.SUCCEEDED)
    page = client.get(f"/projects/{demo.slug}/model/").content.decode()
    assert "Find label errors" in page and "Predict unfinished items" in page

    # Predict: the run page's button queues a job; the worker's service runs it; the page shows the outcome.
    # (the queued message goes to this test's broker; no worker runs meanwhile (no_worker): the test runs the job)
    response = client.post(f"/training/runs/{run.pk}/predict/")
    job = ModelJob.objects.get(kind=ModelJob.Kind.PREDICT)
    assert response.status_code == 302 and response["Location"] == f"/model/jobs/{job.pk}/"
    assert job.status == ModelJob.Status.QUEUED
    assert client.post(f"/training/runs/{run.pk}/predict/", follow=True).status_code == 200  # a second: refused
    assert ModelJob.objects.filter(kind=ModelJob.Kind.PREDICT).count() == 1
    model_job_execute(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == ModelJob.Status.DONE and job.result["predicted"] > 0
    page = client.get(f"/model/jobs/{job.pk}/").content.decode()
    assert f"{job.result['predicted']} items predicted" in page
    reason = job.result["voter_error"]
    assert (f"Not a voter yet: {reason}" if reason else "The model votes") in page.replace("&#x27;", "'")

    # Label errors: suspects with the suggested label; relabel one, send another to review.
    client.post(f"/projects/{demo.slug}/model/start/", {"kind": "label_errors"})
    job = ModelJob.objects.get(kind=ModelJob.Kind.LABEL_ERRORS)
    model_job_execute(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == ModelJob.Status.DONE, job.error
    assert job.result["checked"] > 0
    page = client.get(f"/model/jobs/{job.pk}/").content.decode()
    assert 'data-testid="suspects"' in page
    suspects = [s for s in job.result["items"] if s["item"]]
    if len(suspects) >= 2:
        first, second = suspects[:2]
        client.post(f"/model/jobs/{job.pk}/act/", {"item": first["item"], "action": "relabel"})
        item = Item.objects.get(pk=first["item"])
        assert item.label == demo.categories.get(name=first["suggested"]).pk
        client.post(f"/model/jobs/{job.pk}/act/", {"item": second["item"], "action": "review"})
        assert Item.objects.get(pk=second["item"]).status == Item.Status.REVIEW

    # A job that fails ends failed, with its reason, and is never run again.
    import shutil

    from django.core.files.storage import default_storage

    from training.services.conf import run_dir

    default_storage.delete(run.checkpoint)  # the stored checkpoint and the worker's local copy are gone
    shutil.rmtree(run_dir(run.pk))
    failing = model_job_start(kind=ModelJob.Kind.PREDICT, project=demo, run=run)
    failing = model_job_execute(job_id=failing.pk)
    assert failing.status == ModelJob.Status.FAILED and failing.error and failing.finished_at
    assert model_job_execute(job_id=failing.pk) is None
    assert failing.error in client.get(f"/model/jobs/{failing.pk}/").content.decode().replace("&#x27;", "'")
    with pytest.raises(Exception, match="lists no label errors"):
        label_error_act(job=failing, item_id=1, action="relabel", user=None)
