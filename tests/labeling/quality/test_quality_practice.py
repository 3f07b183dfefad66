"""Practice with feedback: a new volunteer's qualification gold comes back with the right answer; gold mixed into
later work stays indistinguishable from regular items (payloads, keys, query counts). Through the HTTP API."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from labeling.models import Annotation, Category, Item, Lease
from labeling.services.annotations import annotation_submit
from labeling.services.assignment import next_items
from tests.helpers.factories import make_project_with_items

pytestmark = pytest.mark.django_db


def _post(api_client, slug: str, answers: list[tuple[int, dict]]) -> dict:
    body = {"answers": [{"item_id": i, "submission_id": str(uuid.uuid4()), "answer": a} for i, a in answers]}
    response = api_client.post(f"/api/projects/{slug}/answers", body, format="json")
    assert response.status_code == 200, response.content
    return response.json()


def _next(api_client, slug: str, n: int = 12) -> dict:
    response = api_client.get(f"/api/projects/{slug}/next?n={n}")
    assert response.status_code == 200
    return response.json()


def test_verify_practice_items_come_back_with_the_right_answer_and_later_gold_does_not(make_user, api_client):
    project, _ = make_project_with_items(slug="pv", n_items=30, gold=12, categories=("owl",), gold_rate=0.3,
                                         qualification_size=3)  # fmt: skip
    gold = dict(Item.objects.filter(project=project, is_gold=True).values_list("id", "gold_label"))
    api_client.force_authenticate(make_user("newbie"))
    first = _next(api_client, project.slug)
    practice = first["items"]
    assert len(practice) == 3 and all(i["practice"] for i in practice) and {i["id"] for i in practice} <= set(gold)
    answers = [(practice[0]["id"], {"label": 1}), (practice[1]["id"], {"label": 1}), (practice[2]["id"], {"label": 0})]
    results = _post(api_client, project.slug, answers)["results"]
    assert [r["feedback"] for r in results] == [
        {"correct": True, "expected": {"label": 1}},
        {"correct": True, "expected": {"label": 1}},
        {"correct": False, "expected": {"label": 1}},
    ]
    # Qualification done: from now on gold is mixed in (gold_rate) and looks exactly like regular work.
    seen_gold = 0
    for _ in range(4):
        batch = _next(api_client, project.slug)["items"]
        assert batch and not any(i["practice"] for i in batch)
        assert len({frozenset(i) for i in batch}) == 1
        response = api_client.post(
            f"/api/projects/{project.slug}/answers",
            {"answers": [{"item_id": i["id"], "submission_id": str(uuid.uuid4()), "answer": {"label": 1}}
                         for i in batch]},
            format="json",
        )  # fmt: skip
        text = response.content.decode().lower()
        for word in ("feedback", "expected", "correct", "gold", "practice"):
            assert word not in text
        assert len({frozenset(r) for r in response.json()["results"]}) == 1
        seen_gold += sum(1 for i in batch if i["id"] in gold)
    assert seen_gold >= 3  # gold was served, and nothing in the answers' results said so


def test_classify_feedback_names_the_category_id(make_user, api_client):
    project, _ = make_project_with_items(slug="pc", task_type="classify", n_items=4, gold=2, categories=("cat", "dog"),
                                         qualification_size=2)  # fmt: skip
    api_client.force_authenticate(make_user("v"))
    items = _next(api_client, project.slug, n=5)["items"]
    assert [i["practice"] for i in items] == [True, True]
    gold = dict(Item.objects.filter(pk__in=[i["id"] for i in items]).values_list("id", "gold_label"))
    other = Category.objects.filter(project=project).exclude(pk=gold[items[1]["id"]]).first()
    results = _post(
        api_client, project.slug,
        [(items[0]["id"], {"category": gold[items[0]["id"]]}), (items[1]["id"], {"category": other.pk})],
    )["results"]  # fmt: skip
    assert results[0]["feedback"] == {"correct": True, "expected": {"category": gold[items[0]["id"]]}}
    assert results[1]["feedback"] == {"correct": False, "expected": {"category": gold[items[1]["id"]]}}


def test_box_feedback_matches_boxes_by_overlap(make_user, api_client):
    # 64x48 images; the factory's box gold is the centre half: [16, 12, 32, 24]
    project, _ = make_project_with_items(slug="pb", task_type="boxes", n_items=2, gold=2, categories=("owl",),
                                         qualification_size=2)  # fmt: skip
    api_client.force_authenticate(make_user("v"))
    items = _next(api_client, project.slug, n=5)["items"]
    assert len(items) == 2 and all(i["practice"] for i in items)
    results = _post(
        api_client, project.slug,
        [(items[0]["id"], {"boxes": [[17, 12, 31, 25]]}), (items[1]["id"], {"boxes": [[0, 0, 10, 10]]})],
    )["results"]  # fmt: skip
    assert [r["feedback"]["correct"] for r in results] == [True, False]
    assert results[1]["feedback"]["expected"] == {"boxes": [[16.0, 12.0, 32.0, 24.0]]}


def test_without_qualification_gold_is_never_practice(make_user, api_client):
    project, _ = make_project_with_items(slug="pn", n_items=4, gold=8, categories=("owl",), gold_rate=0.5)
    api_client.force_authenticate(make_user("v"))
    items = _next(api_client, project.slug)["items"]
    assert not any(i["practice"] for i in items)
    body = json.dumps(_post(api_client, project.slug, [(i["id"], {"label": 0}) for i in items]))
    assert "feedback" not in body and "expected" not in body


def test_a_replayed_practice_answer_is_stored_once_and_tells_nothing_new(make_user, api_client):
    project, _ = make_project_with_items(slug="pr", n_items=2, gold=1, categories=("owl",), qualification_size=1)
    api_client.force_authenticate(make_user("v"))
    item = _next(api_client, project.slug)["items"][0]
    body = {"answers": [{"item_id": item["id"], "submission_id": str(uuid.uuid4()), "answer": {"label": 1}}]}
    first = api_client.post(f"/api/projects/{project.slug}/answers", body, format="json").json()["results"][0]
    again = api_client.post(f"/api/projects/{project.slug}/answers", body, format="json").json()["results"][0]
    assert first["feedback"]["correct"] is True and first["created"] is True
    assert again["created"] is False and "feedback" not in again
    assert Annotation.objects.filter(item_id=item["id"]).count() == 1


SUBMIT_QUERIES = 14


def _leased(user, item: Item, *, practice: bool = False) -> None:
    Lease.objects.update_or_create(
        item=item, user=user, defaults={"expires_at": timezone.now() + timedelta(minutes=5), "practice": practice}
    )


def _submit(user, item: Item, label: int, project=None):
    return annotation_submit(
        user=user, project=project or item.project, item_id=item.pk, submission_id=uuid.uuid4(),
        answer={"label": label},
    )  # fmt: skip


def test_submit_query_counts_do_not_grow(make_user, django_assert_num_queries):
    """The vote's hot path (the batch path with one answer): SUBMIT_QUERIES statements (+ the test's savepoint
    pair): issue 22 added the live statistics' one upsert and finding 14's "anyone eligible left?". A gold answer
    costs EXACTLY as many as a regular one (gold secrecy, issue 22: the query count is observable): gold reads the
    snapshot and runs the eligibility query like a regular item, its author's gold score riding on the score row
    the vote locks and saves anyway; with or without practice: the feedback rides on the lease and the item."""
    project, items = make_project_with_items(slug="pq", n_items=4, gold=3, categories=("owl",), needed_votes=5)
    regular = [i for i in items if not i.is_gold]
    gold = [i for i in items if i.is_gold]
    user = make_user("v")
    _leased(user, regular[0])
    _submit(user, regular[0], 1)  # first vote: creates the volunteer's score row
    _leased(user, gold[0])
    _submit(user, gold[0], 1)  # first gold answer: locks / creates the gold score
    _leased(user, regular[1])
    with django_assert_num_queries(SUBMIT_QUERIES):
        assert _submit(user, regular[1], 1, project).feedback is None
    _leased(user, gold[1])
    with django_assert_num_queries(SUBMIT_QUERIES):
        assert _submit(user, gold[1], 0, project).feedback is None  # gold in regular work: nothing said
    _leased(user, gold[2], practice=True)
    with django_assert_num_queries(SUBMIT_QUERIES):
        feedback = _submit(user, gold[2], 0, project).feedback
    assert feedback is not None and feedback.correct is False and feedback.expected == {"label": 1}


def test_qualification_leases_are_practice_and_later_gold_leases_are_not(make_user):
    project, _ = make_project_with_items(n_items=20, gold=10, categories=("owl",), gold_rate=0.5,
                                         qualification_size=2)  # fmt: skip
    user = make_user("v")
    first = next_items(user=user, project=project, n=12)
    assert len(first) == 2 and all(i.is_gold for i in first)
    assert set(Lease.objects.filter(user=user).values_list("practice", flat=True)) == {True}
    for item in first:
        _submit(user, item, 1)
    later = next_items(user=user, project=project, n=12)
    assert any(i.is_gold for i in later)
    assert set(Lease.objects.filter(user=user).values_list("practice", flat=True)) == {False}


def test_a_preload_during_qualification_hands_out_no_second_practice_set(make_user):
    project, _ = make_project_with_items(n_items=20, gold=10, categories=("owl",), gold_rate=0.0,
                                         qualification_size=2)  # fmt: skip
    user = make_user("v")
    on_screen = next_items(user=user, project=project, n=12)
    assert len(on_screen) == 2 and all(i.is_gold for i in on_screen)
    preload = next_items(user=user, project=project, n=12, exclude_ids=[i.pk for i in on_screen])
    assert len(preload) == 12 and not any(i.is_gold for i in preload)
    assert Lease.objects.filter(user=user, practice=True).count() == 2
