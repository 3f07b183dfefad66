"""API and pages: researcher-only, scoped to their projects (another researcher's run is a 404), the start
form's defaults, the detail page, the streamed checkpoint download, and the reviewer-only model opinion."""

from __future__ import annotations

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.template.loader import render_to_string
from django.test import RequestFactory
from django.urls import reverse

from labeling.models import Item
from tests.training.factories import shapes_version
from training.models import ModelPrediction, TrainingEpoch, TrainingRun

pytestmark = pytest.mark.django_db

METRICS = {
    "accuracy": 0.9, "top5": None, "macro_f1": 0.89, "num_samples": 10, "loss": 0.3,
    "classes": ["circle", "square", "triangle"],
    "per_class": [
        {"class": n, "precision": 0.9, "recall": 0.9, "f1": 0.9, "support": 3} for n in ("circle", "square", "triangle")
    ],
    "confusion_matrix": [[3, 0, 0], [0, 3, 1], [0, 0, 3]],
}  # fmt: skip


@pytest.fixture
def world(make_user):
    rita = make_user("rita", role="researcher")
    bob = make_user("bob", role="researcher")
    s = shapes_version(owner=rita, n_per_class=3)
    name = default_storage.save("checkpoints/run-test/final.pt", ContentFile(b"PK\x03\x04" + b"x" * 5000))
    run = TrainingRun.objects.create(
        version=s.version, created_by=rita, architecture="small_cnn", config={"epochs": 2}, status="succeeded",
        epochs_total=2, epochs_done=2, device_used="cpu", final_metrics=METRICS, final_split="test", checkpoint=name,
    )  # fmt: skip
    TrainingEpoch.objects.create(run=run, epoch=1, train_loss=1.0, train_acc=0.5, val_loss=1.1, val_acc=0.4, lr=0.05)
    return rita, bob, s, run


def test_another_researcher_gets_404_everywhere(world, client, api_client):
    _, bob, s, run = world
    api_client.force_authenticate(bob)
    assert api_client.get("/api/training/runs/").json() == []
    for method, url in [
        ("get", f"/api/training/runs/{run.pk}/"),
        ("post", f"/api/training/runs/{run.pk}/cancel/"),
        ("post", f"/api/training/runs/{run.pk}/predict/"),
    ]:
        res = getattr(api_client, method)(url, {}, format="json")
        assert res.status_code == 404 and set(res.json()) == {"detail", "code"}
    res = api_client.post("/api/training/runs/start/", {"version": s.version.pk}, format="json")
    assert res.status_code == 404 and not TrainingRun.objects.filter(created_by=bob).exists()
    client.force_login(bob)
    pages = [("training_detail", {"pk": run.pk}), ("training_detail_json", {"pk": run.pk}),
             ("training_checkpoint", {"pk": run.pk}), ("training_start", {"version_pk": s.version.pk})]  # fmt: skip
    for name, kwargs in pages:
        assert client.get(reverse(name, kwargs=kwargs)).status_code == 404
    assert client.post(reverse("training_cancel", kwargs={"pk": run.pk})).status_code == 404


def test_volunteer_is_refused(world, api_client, make_user):
    api_client.force_authenticate(make_user("vic"))
    assert api_client.get("/api/training/runs/").status_code == 403


def test_start_run_api_validates_and_uses_arch_defaults(world, api_client):
    rita, _, s, _ = world
    api_client.force_authenticate(rita)
    res = api_client.post("/api/training/runs/start/", {"version": s.version.pk, "architecture": "resnet18",
                                                        "epochs": 3}, format="json")  # fmt: skip
    assert res.status_code == 201, res.json()
    body = res.json()
    assert body["status"] == "queued" and body["config"]["epochs"] == 3 and body["config"]["image_size"] == 224
    bad = api_client.post("/api/training/runs/start/", {"version": s.version.pk, "architecture": "gpt"}, format="json")
    assert bad.status_code == 400 and bad.json()["code"] == "invalid"
    detail = api_client.get(f"/api/training/runs/{body['id']}/").json()
    assert detail["epochs"] == [] and detail["has_checkpoint"] is False
    cancel = api_client.post(f"/api/training/runs/{body['id']}/cancel/")
    assert cancel.status_code == 200 and cancel.json()["status"] == "cancelled"
    again = api_client.post(f"/api/training/runs/{body['id']}/cancel/")
    assert again.status_code == 409 and again.json()["code"] == "run_finished"


def test_world_size_is_the_runs_recorded_setting_with_a_global_batch(world, api_client):
    rita, _, s, _ = world
    api_client.force_authenticate(rita)
    res = api_client.post("/api/training/runs/start/", {"version": s.version.pk, "batch_size": 64,
                                                        "world_size": 4}, format="json")  # fmt: skip
    assert res.status_code == 201, res.json()
    body = res.json()
    assert body["world_size"] == 4 and body["config"]["world_size"] == 4 and body["config"]["batch_size"] == 64
    default = api_client.post("/api/training/runs/start/", {"version": s.version.pk}, format="json").json()
    assert default["world_size"] == 1  # never the number of GPUs some machine has
    bad = api_client.post("/api/training/runs/start/", {"version": s.version.pk, "batch_size": 30,
                                                        "world_size": 4}, format="json")  # fmt: skip
    assert bad.status_code == 400 and "multiple of world_size" in bad.json()["detail"]


def test_pages_and_checkpoint_download(world, client):
    rita, _, s, run = world
    client.force_login(rita)
    page = client.get(reverse("training_detail", kwargs={"pk": run.pk}))
    html = page.content.decode()
    assert page.status_code == 200 and 'data-testid="cpu-warning"' in html and "<td>square</td>" in html
    assert "<script>" not in html and "style=" not in html  # CSP: modules and json_script only
    data = client.get(reverse("training_detail_json", kwargs={"pk": run.pk})).json()
    assert data["epochs"][0]["epoch"] == 1 and data["final_metrics"]["confusion_matrix"][1] == [0, 3, 1]
    res = client.get(reverse("training_checkpoint", kwargs={"pk": run.pk}))
    assert res.status_code == 200 and res.streaming
    assert res["Content-Disposition"] == f'attachment; filename="run-{run.pk}-small_cnn.pt"'
    assert b"".join(res.streaming_content).startswith(b"PK")
    form = client.get(reverse("training_start", kwargs={"version_pk": s.version.pk})).content.decode()
    assert 'id="arch-defaults"' in form and 'name="epochs" value="15"' in form  # small_cnn's default
    listing = client.get(reverse("training_list")).content.decode()
    assert f"#{run.pk}" in listing and reverse("training_start", kwargs={"version_pk": s.version.pk}) in listing


def test_model_opinion_is_shown_to_reviewers_only(world, make_user):
    _, _, s, run = world
    item = Item.objects.filter(project=s.project).first()
    ModelPrediction.objects.create(
        run=run, item=item, probs=[0.8, 0.1, 0.1],
        label_probs={str(c.pk): p for c, p in zip(s.categories, [0.8, 0.1, 0.1], strict=True)},
        predicted_label=s.categories[0].pk, confidence=0.8, entropy=0.58, margin=0.7,
    )  # fmt: skip
    reviewer = make_user("rev", role="reviewer")
    s.project.reviewers.add(reviewer)
    volunteer = make_user("vol")

    def render(user) -> str:
        request = RequestFactory().get("/")
        request.user = user
        return render_to_string("training/_model_opinion.html", {"item": item}, request=request)

    assert "Predicts <strong>circle</strong>" in render(reviewer)
    assert "model-opinion" not in render(volunteer)


@pytest.mark.parametrize(("device", "says"), [("cpu", "on the worker's CPU"), ("cuda", "on the worker's GPU (and"),
                                              ("auto", "GPU when it has one, else on its CPU")])  # fmt: skip
def test_the_start_message_says_which_device_the_run_will_use(world, client, device, says):
    from training.models import TrainingWorker
    from training.views.forms import arch_defaults

    TrainingWorker.objects.all().delete()  # no worker has reported (a session worker may have): cuda is accepted

    rita, _, s, _ = world
    client.force_login(rita)
    data = {**arch_defaults()["small_cnn"], "architecture": "small_cnn", "device": device}
    data = {k: v for k, v in data.items() if v is not None and v is not False}
    response = client.post(reverse("training_start", kwargs={"version_pk": s.version.pk}), data, follow=True)
    assert response.redirect_chain, response.content.decode()[:2000]
    text = " ".join(str(m) for m in response.context["messages"])
    assert says in text and "queued for the training worker" in text
    assert "GPU workers" not in text
    assert TrainingRun.objects.filter(device_requested=device, status="queued").count() == 1
