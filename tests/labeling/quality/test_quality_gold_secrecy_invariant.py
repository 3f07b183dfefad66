"""Gold secrecy as an invariant (issue 22, findings 7, 8, 9; CONVENTIONS 18): nothing a volunteer can observe
depends on whether an item is gold -- the count of items left (API and home page), the next batch's composition
and payload, the answer's result, the number of statements behind a request, the category's example images.

One volunteer answers a gold item and a regular item of the same batch, and every observable is recorded after
each; the two records must be the same. Then two accounts lease every regular item (finding 8) and the volunteer
asks for work: a batch of gold only would name gold items."""

from __future__ import annotations

import re
import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from labeling.models import Item, Lease
from labeling.services.assignment import next_items
from labeling.services.curation import items_mark_gold, items_set_examples
from labeling.services.quality import gold_set
from tests.helpers.factories import make_project_with_items

pytestmark = pytest.mark.django_db


def observe(api_client, client, slug: str) -> dict:
    """Everything the volunteer sees without answering: the counts (API and home page), what `next` returns
    (the number of items, each payload's keys and practice flag) and the statements it cost."""
    (row,) = [p for p in api_client.get("/api/projects/").json() if p["slug"] == slug]
    home = client.get("/").content.decode()
    left = re.search(r"(\d+) left for you", home)
    with CaptureQueriesContext(connection) as ctx:
        batch = api_client.get(f"/api/projects/{slug}/next?n=3").json()
    return {
        "open_items": row["open_items"],
        "home_left": int(left.group(1)) if left else None,
        "batch_size": len(batch["items"]),
        "payload_keys": sorted({tuple(sorted(i)) for i in batch["items"]}),
        "practice": sorted({i["practice"] for i in batch["items"]}),
        "next_queries": len(ctx),
        "item_ids": [i["id"] for i in batch["items"]],
    }


def answer(api_client, slug: str, item: Item) -> dict:
    body = {"answers": [{"item_id": item.pk, "submission_id": str(uuid.uuid4()), "answer": {"category": None}}]}
    with CaptureQueriesContext(connection) as ctx:  # the statements behind the answer: equal for gold and regular
        response = api_client.post(f"/api/projects/{slug}/answers", body, format="json")
    assert response.status_code == 200
    (result,) = response.json()["results"]
    return {"status": response.status_code, "keys": sorted(result), "ok": result["ok"], "queries": len(ctx)}


def test_nothing_a_volunteer_observes_depends_on_gold(make_user, api_client, client):
    project, _items = make_project_with_items(
        slug="secret", task_type="classify", n_items=30, gold=8, gold_rate=0.3, needed_votes=3
    )
    volunteer = make_user("hunter")
    api_client.force_authenticate(volunteer)
    client.force_login(volunteer)

    before = observe(api_client, client, project.slug)
    on_screen = Item.objects.filter(pk__in=before["item_ids"])
    gold = next((i for i in on_screen if i.is_gold), None)
    regular = next(i for i in on_screen if not i.is_gold)
    if gold is None:  # lease one gold item as a mixed batch would
        gold = Item.objects.filter(project=project, is_gold=True).first()
        next_items(user=volunteer, project=project, n=1, only_ids=[gold.pk])

    # A warm-up answer first: a newcomer's first answer creates their score row (a few statements more, gold or
    # not), which is not what is compared here.
    warm_up = Item.objects.filter(project=project, is_gold=False).exclude(pk=regular.pk).first()
    next_items(user=volunteer, project=project, n=1, only_ids=[warm_up.pk])
    answer(api_client, project.slug, warm_up)

    record = {}
    for kind, item in (("gold", gold), ("regular", regular)):
        start = observe(api_client, client, project.slug)
        result = answer(api_client, project.slug, item)
        end = observe(api_client, client, project.slug)
        record[kind] = {
            "open_items_delta": end["open_items"] - start["open_items"],
            "home_left_delta": end["home_left"] - start["home_left"],
            "result": result,
            "payload_keys": end["payload_keys"],
            "practice": end["practice"],
            "next_queries": end["next_queries"],
        }
    assert record["gold"] == record["regular"]
    assert record["gold"]["open_items_delta"] == -1  # finding 7: gold counts like regular work


def test_batch_is_never_only_gold_because_regular_work_is_leased(make_user):
    project, _items = make_project_with_items(
        slug="onlygold", task_type="classify", n_items=20, gold=6, gold_rate=0.2, needed_votes=2
    )
    for name in ("lease-a", "lease-b"):  # two accounts take every regular item's votes (needed_votes = 2)
        user = make_user(name)
        held: list[int] = []
        for _ in range(5):  # preloads: each asks for fresh work beside what it holds
            batch = next_items(user=user, project=project, n=50, exclude_ids=held)
            if not batch:
                break
            held += [i.pk for i in batch]
    regular_open = Item.objects.filter(project=project, is_gold=False)
    assert all(Lease.objects.filter(item=i).count() == 2 for i in regular_open)
    hunter = make_user("third")
    batch = next_items(user=hunter, project=project, n=10)
    assert not batch or any(not i.is_gold for i in batch)  # finding 8
    assert not Lease.objects.filter(user=hunter, item__is_gold=True).exists()


def test_gold_image_is_never_a_category_example(make_user, api_client):
    """Finding 9: an accepted positive made an example and later marked gold (curation, or gold set any other
    way) is not shown as its category's example."""
    project, items = make_project_with_items(slug="examples", task_type="verify", n_items=6, categories=("owl",))
    researcher = make_user("cur", role="researcher")
    Item.objects.filter(pk__in=[items[0].pk, items[1].pk]).update(status=Item.Status.ACCEPTED, label=1)
    items_set_examples(project=project, item_ids=[items[0].pk, items[1].pk], example=True, user=researcher)
    items_mark_gold(project=project, item_ids=[items[0].pk], label=1, user=researcher)
    category = items[0].category
    assert list(category.example_images.values_list("id", flat=True)) == [items[1].image_id]
    # gold set by another path (a review fix, a gold import) is hidden where examples are read
    gold_set(item=Item.objects.get(pk=items[1].pk), label=1)
    volunteer = make_user("looker")
    api_client.force_authenticate(volunteer)
    batch = api_client.get(f"/api/projects/{project.slug}/next?n=12").json()
    assert batch["category"]["examples"] == []
