"""Gold answers never reach a volunteer: not in the next/answers API responses, not in the labeling page,
and the reviewer-only quality API and pages are closed to volunteers."""

from __future__ import annotations

import json
import uuid

import pytest

from labeling.models import Item
from labeling.services.quality import gold_set
from tests.labeling.quality.qfactories import make_project

pytestmark = pytest.mark.django_db

FORBIDDEN = ("gold", "posterior", "confidence", "is_gold", "model_probs", "7.893")


def _assert_clean(text: str) -> None:
    low = text.lower()
    for word in FORBIDDEN:
        assert word not in low, f"{word!r} leaked into a volunteer payload"


def test_gold_never_in_volunteer_payloads(make_user, api_client, client):
    project, items = make_project(slug="leak", n_items=6, min_votes=1, max_votes=3)
    for item in items[:3]:
        gold_set(item=item, label=1)
    Item.objects.filter(pk=items[0].pk).update(gold_answer={"boxes": [[7.893, 1, 2, 3]]})
    # New volunteers see the gold first, as practice: the right answer comes back for those three answers only
    # (test_quality_practice.py); nothing else about gold reaches them.
    project.qualification_size, project.gold_rate = 3, 0.5
    project.save(update_fields=["qualification_size", "gold_rate"])
    vol = make_user("vol")
    api_client.force_authenticate(vol)
    seen_keys = []
    answered = practice = 0
    for _ in range(3):
        resp = api_client.get(f"/api/projects/{project.slug}/next?n=12")
        assert resp.status_code == 200
        _assert_clean(resp.content.decode())
        batch = resp.json()["items"]
        seen_keys += [tuple(sorted(i)) for i in batch]
        if not batch:
            break
        answers = [{"item_id": i["id"], "submission_id": str(uuid.uuid4()), "answer": {"label": 0}} for i in batch]
        resp = api_client.post(f"/api/projects/{project.slug}/answers", {"answers": answers}, format="json")
        assert resp.status_code == 200, resp.content
        _assert_clean(resp.content.decode())
        practice += sum(1 for r in resp.json()["results"] if "feedback" in r)
        answered += len(batch)
    assert answered == 6  # gold items were served too, looking exactly like the others
    assert practice == 3
    assert len(set(seen_keys)) == 1
    # Wrong answers on gold did not reveal anything either; the reviewer API is a 404 for volunteers.
    for url in (f"/api/projects/{project.slug}/review/", f"/api/projects/{project.slug}/annotators/",
                f"/api/projects/{project.slug}/quality/"):  # fmt: skip
        resp = api_client.get(url)
        assert resp.status_code in (403, 404) and "gold" not in resp.content.decode().lower()
    client.force_login(vol)
    page = client.get(f"/projects/{project.slug}/label/")
    assert page.status_code == 200
    _assert_clean(page.content.decode())
    for name in ("review", "annotators", "quality"):
        assert client.get(f"/projects/{project.slug}/{name}/").status_code in (403, 404)


def test_reviewer_sees_scores_and_can_block_through_api(make_user, api_client):
    project, items = make_project(slug="revapi", n_items=3, min_votes=1, max_votes=3, target=0.6)
    reviewer = make_user("rv", role="reviewer")
    project.reviewers.add(reviewer)
    vol, other_vol = make_user("v1"), make_user("v2")
    from tests.labeling.quality.qfactories import cast

    for item in items:  # two agreeing votes finish an item (one vote never does)
        cast(vol, item, 1)
        cast(other_vol, item, 1)
    api_client.force_authenticate(reviewer)
    rows = api_client.get(f"/api/projects/{project.slug}/annotators/").json()
    assert sorted(r["username"] for r in rows) == ["v1", "v2"] and rows[0]["volume"] == 3
    resp = api_client.post(
        f"/api/projects/{project.slug}/annotators/{vol.pk}/status", {"status": "blocked", "reason": "x"}, format="json"
    )
    assert resp.status_code == 200 and resp.json()["status"] == "blocked"
    assert sorted(resp.json()["reopened"]) == sorted(i.pk for i in items)
    bad = api_client.post(f"/api/projects/{project.slug}/annotators/{vol.pk}/status", {"status": "x"}, format="json")
    assert bad.status_code == 400 and bad.json()["code"] == "invalid"
    stats = api_client.get(f"/api/projects/{project.slug}/quality/").json()
    assert stats["overall"]["items"] == 3 and json.dumps(stats)
    other = make_user("rv2", role="reviewer")
    api_client.force_authenticate(other)  # a reviewer of another project sees nothing here
    assert api_client.get(f"/api/projects/{project.slug}/annotators/").status_code == 404
