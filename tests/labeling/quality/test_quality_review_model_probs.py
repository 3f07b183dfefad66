"""The review queue reads any stored `model_probs` (regression: the shape training writes answered HTTP 500)."""

from __future__ import annotations

import pytest

from labeling.models import Item
from labeling.selectors.quality import model_opinion, review_items
from tests.labeling.quality.qfactories import cast, make_project

pytestmark = pytest.mark.django_db

# Exactly what training.services.predictions and training.services.voter store after "Predict unfinished items".
PREDICTED = {"run": 7, "labels": {"0": 0.03, "1": 0.97}, "predicted": 1, "entropy": 0.19, "margin": 0.94,
             "vote": {"0": 0.1, "1": 0.9}, "max_weight": 2.197225}  # fmt: skip


@pytest.mark.parametrize(
    ("stored", "expected"),
    [
        (PREDICTED, ("1", 0.97)),
        ({"0": 0.2, "1": 0.8}, ("1", 0.8)),  # an older flat shape
        ({"run": 3, "labels": {}}, None),
        ({"labels": {"0": "x", "1": None}}, None),
        ({"labels": [0.1, 0.9]}, None),  # not a mapping: the outer dict has no numeric values either
        ([0.1, 0.9], None),
        ("garbage", None),
        ({"0": True}, None),
        ({"0": float("nan"), "1": 0.4}, ("1", 0.4)),
    ],
)
def test_model_opinion_reads_every_shape(stored, expected):
    assert model_opinion(stored) == expected


def test_review_queue_page_and_api_with_predictions(make_user, client, api_client):
    project, items = make_project(slug="mprobs", n_items=3, min_votes=1, max_votes=3, target=0.6)
    reviewer = make_user("rv", role="reviewer")
    project.reviewers.add(reviewer)
    vols = [make_user("v1"), make_user("v2")]
    for item in items:
        for vol in vols:
            cast(vol, item, 0)  # done on "no" (target 0.6)
    assert set(Item.objects.filter(project=project).values_list("status", flat=True)) == {Item.Status.DONE}
    shapes = [PREDICTED, {"0": 0.05, "1": 0.95}, {"labels": "broken"}]
    for item, stored in zip(items, shapes, strict=True):
        Item.objects.filter(pk=item.pk).update(model_probs=stored)

    queue = review_items(project=project)  # the model confidently says "yes" on two "no" items
    assert [(i.pk, i.reason) for i in queue] == [(items[0].pk, "model disagrees"), (items[1].pk, "model disagrees")]

    client.force_login(reviewer)
    page = client.get(f"/projects/{project.slug}/review/")
    assert page.status_code == 200
    api_client.force_authenticate(reviewer)
    resp = api_client.get(f"/api/projects/{project.slug}/review/")
    assert resp.status_code == 200
    body = resp.json()
    rows = body["results"] if isinstance(body, dict) else body
    assert sorted(r["id"] for r in rows) == sorted([items[0].pk, items[1].pk])
