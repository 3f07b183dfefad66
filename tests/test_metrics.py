"""/metrics: staff or the token only; every family present and right, read back with Prometheus' own text parser;
the Grafana dashboard charts only metrics the endpoint exports."""

from __future__ import annotations

import json
import re
import time
import uuid
from pathlib import Path

import pytest
from django.test import Client
from prometheus_client.parser import text_string_to_metric_families

from labeling.services.annotations import annotation_submit
from labeling.services.assignment import next_items
from tests.helpers.factories import make_project_with_items

pytestmark = pytest.mark.django_db
DASHBOARD = Path(__file__).resolve().parents[1] / "annotate" / "grafana" / "annotate.json"
FAMILIES = {
    "annotate_answers_per_second", "annotate_answers_last_id", "annotate_leases_held", "annotate_items",
    "annotate_reaggregation_lag_seconds", "annotate_broker_up", "annotate_celery_queue_depth",
    "annotate_celery_queue_oldest_age_seconds", "annotate_celery_workers", "annotate_celery_worker_up",
    "annotate_training_runs", "annotate_training_heartbeat_age_seconds",
}  # fmt: skip


def _samples(text: str) -> dict[tuple[str, tuple], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def _scrape(client: Client, **headers) -> str:
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain; version=")
    return response.content.decode()


def test_metrics_are_for_staff_or_the_token(client, make_user, settings):
    assert client.get("/metrics").status_code == 403
    client.force_login(make_user("vol", role="volunteer"))
    assert client.get("/metrics").status_code == 403
    # no token configured: an empty or any bearer is refused
    assert client.get("/metrics", headers={"Authorization": "Bearer "}).status_code == 403
    settings.ANNOTATE = {"METRICS_TOKEN": "scrape-secret-123"}
    anonymous = Client()
    assert anonymous.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 403
    assert anonymous.get("/metrics", headers={"Authorization": "Bearer scrape-secret-123"}).status_code == 200
    staff = make_user("ops", role="researcher")
    staff.is_staff = True
    staff.save(update_fields=["is_staff"])
    anonymous.force_login(staff)
    assert anonymous.get("/metrics").status_code == 200


def test_metrics_report_answers_leases_items_lag_queues_and_runs(client, make_user, settings):
    from annotate.tasks import probe
    from tests.helpers.workers import purge_queues

    purge_queues()
    settings.ANNOTATE = {"METRICS_TOKEN": "t0k3n"}
    project, _ = make_project_with_items(slug="metered", n_items=6, categories=("owl",), needed_votes=1)
    alice = make_user("alice")
    bob = make_user("bob")
    served = next_items(user=alice, project=project, n=3)
    for item in served[:2]:
        annotation_submit(user=alice, project=project, item_id=item.id, submission_id=uuid.uuid4(),
                          answer={"label": 1})  # fmt: skip
    next_items(user=bob, project=project, n=2)  # two more leases held
    # A message nobody consumes in this process: the queue's depth and its age. No worker in this test (a
    # session worker, if one runs, consumes it: then the depth is 0 and the age 0, which the assertions allow).
    probe.apply_async(args=[f"metrics-{uuid.uuid4().hex}"], queue="gpu", routing_key="gpu")
    time.sleep(0.05)

    text = _scrape(client, Authorization="Bearer t0k3n")
    names = {family.name for family in text_string_to_metric_families(text)}
    assert names >= FAMILIES, FAMILIES - names
    samples = _samples(text)
    assert samples[("annotate_answers_per_second", ())] == pytest.approx(2 / 60)
    assert samples[("annotate_answers_last_id", ())] >= 2
    # alice's third lease and bob's two
    assert samples[("annotate_leases_held", ())] == 3
    items = {labels: v for (name, labels), v in samples.items() if name == "annotate_items"}
    # needed_votes=1: the two answered items left `open` (done or review depending on the engine)
    assert items[(("project", "metered"), ("status", "open"))] <= 4
    assert sum(v for labels, v in items.items() if ("project", "metered") in labels) == 6
    lag = samples[("annotate_reaggregation_lag_seconds", (("project", "metered"),))]
    assert 0 <= lag < 120
    assert samples[("annotate_broker_up", ())] == 1
    assert samples[("annotate_celery_queue_depth", (("queue", "gpu"),))] in (0, 1)
    age = samples[("annotate_celery_queue_oldest_age_seconds", (("queue", "gpu"),))]
    assert 0 <= age < 60
    if samples[("annotate_celery_queue_depth", (("queue", "gpu"),))] == 1:
        assert age > 0  # the send time stamped by annotate/celery.py
    for status in ("queued", "running", "succeeded", "failed", "cancelled"):
        assert samples[("annotate_training_runs", (("status", status),))] == 0
    purge_queues()


def test_reaggregation_lag_counts_from_the_oldest_vote_the_snapshot_lacks(client, make_user, settings):
    from labeling.services.quality import project_reaggregate

    settings.ANNOTATE = {"METRICS_TOKEN": "t0k3n"}
    project, _ = make_project_with_items(slug="lagging", n_items=4, categories=("owl",), needed_votes=2)
    alice = make_user("alice")
    for item in next_items(user=alice, project=project, n=2):
        annotation_submit(user=alice, project=project, item_id=item.id, submission_id=uuid.uuid4(),
                          answer={"label": 1})  # fmt: skip
    project_reaggregate(project_id=project.id)
    key = ("annotate_reaggregation_lag_seconds", (("project", "lagging"),))
    assert _samples(_scrape(client, Authorization="Bearer t0k3n"))[key] == 0
    time.sleep(0.02)
    bob = make_user("bob")
    item = next_items(user=bob, project=project, n=1)[0]
    annotation_submit(user=bob, project=project, item_id=item.id, submission_id=uuid.uuid4(), answer={"label": 0})
    lag = _samples(_scrape(client, Authorization="Bearer t0k3n"))[key]
    assert 0 < lag < 60


@pytest.mark.worker
def test_metrics_see_a_live_worker(transactional_db, celery_worker, client, settings):
    settings.ANNOTATE = {"METRICS_TOKEN": "t0k3n"}
    samples = _samples(_scrape(client, Authorization="Bearer t0k3n"))
    assert samples[("annotate_celery_workers", ())] >= 1
    assert any(name == "annotate_celery_worker_up" and v == 1 for (name, _), v in samples.items())


def test_the_grafana_dashboard_charts_exported_metrics_only():
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["title"] and dashboard["panels"]
    used = set()
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            used |= set(re.findall(r"\bannotate_[a-z_]+", target["expr"]))
    assert used, "the dashboard charts nothing"
    assert used <= FAMILIES, used - FAMILIES
    assert {
        "annotate_answers_last_id",
        "annotate_leases_held",
        "annotate_items",
        "annotate_celery_queue_depth",
        "annotate_reaggregation_lag_seconds",
        "annotate_celery_workers",
        "annotate_training_runs",
    } <= used
