"""The review queue reads model opinions (typed ModelOpinion rows; they replaced the `model_probs` JSON bag, whose
odd shapes once answered HTTP 500) and flags done items a model confidently disagrees with."""

from __future__ import annotations

import pytest

from labeling.models import Item, ModelOpinion
from labeling.selectors.review import model_opinion, review_items
from labeling.services.quality.opinions import Opinion, model_opinions_write
from tests.labeling.quality.qfactories import cast, make_project

pytestmark = pytest.mark.django_db

S = ModelOpinion.Source


def test_model_opinion_is_the_latest_prediction_not_the_label_error_note(make_user):
    _project, items = make_project(slug="mop", n_items=2)
    item = items[0]
    assert model_opinion(item) is None
    model_opinions_write(opinions=[Opinion(item.pk, S.LABEL_ERROR, [0], [0.99], detail={"folds": 3})])
    assert model_opinion(item) is None  # a finder's suggestion is not a prediction
    model_opinions_write(opinions=[Opinion(item.pk, S.RUN, [0, 1], [0.03, 0.97], entropy=0.19, margin=0.94)])
    assert model_opinion(item) == ("1", 0.97)
    model_opinions_write(opinions=[Opinion(item.pk, S.ZERO_SHOT, [0, 1], [0.8, 0.2])])
    assert model_opinion(item) == ("0", 0.8)  # the newest opinion of any predicting model
    assert ModelOpinion.objects.filter(item=item).count() == 3  # one row per source: none erased another


def test_review_queue_page_and_api_with_predictions(make_user, client, api_client):
    project, items = make_project(slug="mprobs", n_items=3, min_votes=1, max_votes=3, target=0.6)
    reviewer = make_user("rv", role="reviewer")
    project.reviewers.add(reviewer)
    vols = [make_user("v1"), make_user("v2")]
    for item in items:
        for vol in vols:
            cast(vol, item, 0)  # done on "no" (target 0.6)
    assert set(Item.objects.filter(project=project).values_list("status", flat=True)) == {Item.Status.DONE}
    model_opinions_write(opinions=[
        Opinion(items[0].pk, S.RUN, [0, 1], [0.03, 0.97], vote=[0.1, 0.9], max_weight=2.197225),
        Opinion(items[1].pk, S.ZERO_SHOT, [0, 1], [0.05, 0.95]),
        Opinion(items[2].pk, S.RUN, [0, 1], [0.6, 0.4]),  # agrees with the crowd
    ])  # fmt: skip

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
