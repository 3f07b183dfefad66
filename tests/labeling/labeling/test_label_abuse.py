"""Bad input and abuse through the API: each case is refused with a clear error and stores nothing."""

from __future__ import annotations

import json
import uuid

import pytest
from django.test import Client

from labeling.models import Annotation, Item, Project
from labeling.services.assignment import next_items
from tests.helpers.factories import make_project_with_items

pytestmark = pytest.mark.django_db


def post_answers(client, slug, answers):
    return client.post(f"/api/projects/{slug}/answers", {"answers": answers}, format="json")


def one(item_id, answer, submission_id=None):
    return {"item_id": item_id, "submission_id": str(submission_id or uuid.uuid4()), "answer": answer}


@pytest.fixture
def setup(make_user, api_client):
    project, items = make_project_with_items(slug="birds", n_items=6, categories=("owl",))
    user = make_user("vol")
    api_client.force_authenticate(user)
    return project, items, user, api_client


def test_answer_for_an_item_not_leased_is_404_and_stores_nothing(setup):
    project, items, _user, client = setup
    response = post_answers(client, project.slug, [one(items[0].id, {"label": 1})])
    assert response.status_code == 404
    assert response.json()["code"] == "not_assigned"
    assert Annotation.objects.count() == 0
    assert Item.objects.get(pk=items[0].pk).votes_count == 0


def test_answer_for_an_item_of_another_project_is_404(setup, make_user):
    project, _items, user, client = setup
    other, other_items = make_project_with_items(slug="fish", n_items=2, categories=("cod",), seed=7)
    next_items(user=user, project=other, n=2)  # leased there, but answered through the wrong project
    response = post_answers(client, project.slug, [one(other_items[0].id, {"label": 1})])
    assert response.status_code == 404
    assert response.json()["code"] == "item_not_found"
    response = post_answers(client, project.slug, [one(10**9, {"label": 1})])
    assert response.status_code == 404
    assert Annotation.objects.count() == 0


def test_double_submit_with_one_submission_id_is_stored_once(setup):
    project, _items, user, client = setup
    item = next_items(user=user, project=project, n=1)[0]
    body = [one(item.id, {"label": 1}, submission_id=uuid.uuid4())]
    first = post_answers(client, project.slug, body)
    second = post_answers(client, project.slug, body)
    assert first.status_code == second.status_code == 200
    assert first.json()["results"][0]["annotation_id"] == second.json()["results"][0]["annotation_id"]
    assert second.json()["results"][0]["created"] is False
    assert Annotation.objects.count() == 1
    assert Item.objects.get(pk=item.pk).votes_count == 1


def test_a_second_different_answer_to_one_item_is_refused(setup):
    project, _items, user, client = setup
    item = next_items(user=user, project=project, n=1)[0]
    assert post_answers(client, project.slug, [one(item.id, {"label": 1})]).status_code == 200
    response = post_answers(client, project.slug, [one(item.id, {"label": 0})])
    assert response.status_code == 409
    assert response.json()["code"] == "already_answered"
    assert list(Annotation.objects.values_list("label", flat=True)) == [1]


def test_a_submission_id_reused_for_another_item_is_refused(setup, make_user):
    """Whether the second item is leased to the same user or not, the stored answer is never overwritten."""
    project, _items, user, client = setup
    first, second = next_items(user=user, project=project, n=2)
    submission = uuid.uuid4()
    assert post_answers(client, project.slug, [one(first.id, {"label": 1}, submission)]).status_code == 200
    response = post_answers(client, project.slug, [one(second.id, {"label": 0}, submission)])
    assert response.status_code == 409
    assert response.json()["code"] == "submission_id_reused"
    other = make_user("other")
    client.force_authenticate(other)
    response = post_answers(client, project.slug, [one(first.id, {"label": 0}, submission)])
    assert response.status_code == 409
    assert response.json()["code"] == "submission_id_reused"
    assert list(Annotation.objects.values_list("item_id", "user_id", "label")) == [(first.id, user.id, 1)]
    assert Item.objects.get(pk=second.pk).votes_count == 0


@pytest.mark.parametrize(
    ("boxes", "code"),
    [
        ([[10, 10, 60, 10]], "invalid_answer"),  # x + w = 70 > 64
        ([[-1, 0, 5, 5]], "invalid_answer"),
        ([[0, 0, 5, 49]], "invalid_answer"),  # y + h > 48
        ([[5, 5, -3, 4]], "invalid_answer"),  # negative size
        ([[5, 5, 0, 4]], "invalid_answer"),  # degenerate
        ([[5, 5, 4]], "invalid_answer"),
        ([["1", 2, 3, 4]], "invalid_answer"),
        ([[0, 0, 1, 1]] * 10_000, "too_many_boxes"),
    ],
)
def test_bad_boxes_are_refused(make_user, api_client, boxes, code):
    project, _ = make_project_with_items(slug="bx", task_type=Project.TaskType.BOXES, n_items=1, categories=("car",))
    user = make_user("boxer")
    api_client.force_authenticate(user)
    item = next_items(user=user, project=project, n=1)[0]
    response = post_answers(api_client, project.slug, [one(item.id, {"boxes": boxes})])
    assert response.status_code == 400, response.content
    assert response.json()["code"] == code
    assert Annotation.objects.count() == 0


def test_nan_and_infinity_in_boxes_are_refused(make_user, api_client):
    project, _ = make_project_with_items(slug="bx", task_type=Project.TaskType.BOXES, n_items=1, categories=("car",))
    user = make_user("boxer")
    api_client.force_authenticate(user)
    item = next_items(user=user, project=project, n=1)[0]
    for token in ("NaN", "Infinity", "-Infinity"):
        raw = (
            f'{{"answers": [{{"item_id": {item.id}, "submission_id": "{uuid.uuid4()}", '
            f'"answer": {{"boxes": [[1, 2, {token}, 4]]}}}}]}}'
        )
        response = api_client.post(f"/api/projects/{project.slug}/answers", raw, content_type="application/json")
        assert response.status_code == 400, response.content
        assert "detail" in response.json()
    # the service itself refuses non-finite numbers too (for non-JSON callers)
    from annotate.exceptions import ServiceError
    from labeling.services.annotations import annotation_submit

    with pytest.raises(ServiceError) as err:
        annotation_submit(
            user=user, project=project, item_id=item.id, submission_id=uuid.uuid4(),
            answer={"boxes": [[1, 2, float("nan"), 4]]},
        )  # fmt: skip
    assert err.value.code == "invalid_answer"
    assert Annotation.objects.count() == 0


def test_a_valid_boxes_answer_is_stored_in_pixels(make_user, api_client):
    project, _ = make_project_with_items(slug="bx", task_type=Project.TaskType.BOXES, n_items=1, categories=("car",))
    user = make_user("boxer")
    api_client.force_authenticate(user)
    item = next_items(user=user, project=project, n=1)[0]
    response = post_answers(api_client, project.slug, [one(item.id, {"boxes": [[0, 0, 64, 48], [1.5, 2, 3, 4]]})])
    assert response.status_code == 200
    assert Annotation.objects.get().answer == {"boxes": [[0, 0, 64, 48], [1.5, 2, 3, 4]]}


def test_category_id_from_another_project_is_refused(make_user, api_client):
    classify = Project.TaskType.CLASSIFY
    project, _ = make_project_with_items(slug="cls", task_type=classify, n_items=2, categories=("a", "b"))
    other, _ = make_project_with_items(slug="cls2", task_type=classify, n_items=1, categories=("z",), seed=3)
    foreign = other.categories.get().id
    user = make_user("c")
    api_client.force_authenticate(user)
    item = next_items(user=user, project=project, n=1)[0]
    response = post_answers(api_client, project.slug, [one(item.id, {"category": foreign})])
    assert response.status_code == 400
    assert "not a category of this project" in response.json()["detail"]
    assert Annotation.objects.count() == 0
    ok = post_answers(api_client, project.slug, [one(item.id, {"category": None})])
    assert ok.status_code == 200
    assert Annotation.objects.get().label == -1


def test_malformed_verify_answers_are_refused(setup):
    project, _items, user, client = setup
    item = next_items(user=user, project=project, n=1)[0]
    for answer in ({"label": 2}, {"label": "1"}, {"label": 1, "x": 1}, {}, {"label": 0.5}):
        response = post_answers(client, project.slug, [one(item.id, answer)])
        assert response.status_code == 400, answer
    response = client.post(f"/api/projects/{project.slug}/answers", {"answers": "nope"}, format="json")
    assert response.status_code == 400
    assert Annotation.objects.count() == 0


def test_a_volunteer_cannot_see_another_users_assignments_or_answers(setup, make_user):
    project, _items, _user, client = setup
    project.min_votes = project.max_votes = 1
    project.save()
    Item.objects.filter(project=project).update(needed_votes=1)
    other = make_user("other")
    theirs = next_items(user=other, project=project, n=3)
    from labeling.services.annotations import annotation_submit

    their_answer = annotation_submit(
        user=other, project=project, item_id=theirs[0].id, submission_id=uuid.uuid4(), answer={"label": 1}
    )
    response = client.get(f"/api/projects/{project.slug}/next?n=12&user={other.id}")
    assert response.status_code == 200
    mine = {i["id"] for i in response.json()["items"]}
    assert not mine & {i.id for i in theirs}
    assert client.get(f"/api/projects/{project.slug}/answers/{their_answer.id}").status_code == 404
    assert client.get(f"/api/projects/{project.slug}/skip").status_code == 405


def test_gold_answers_are_never_exposed_to_volunteers(make_user, api_client):
    # Gold mixed into regular work (no qualification): practice items, which do show the right answer on
    # purpose, are covered in tests/labeling/quality/test_quality_practice.py.
    project, _ = make_project_with_items(slug="g", n_items=4, gold=8, categories=("owl",), gold_rate=0.5)
    user = make_user("v")
    api_client.force_authenticate(user)
    payload = api_client.get(f"/api/projects/{project.slug}/next?n=12").json()
    assert payload["items"]
    gold_item = next(i for i in payload["items"] if Item.objects.get(pk=i["id"]).is_gold)
    result = post_answers(api_client, project.slug, [one(gold_item["id"], {"label": 0})]).json()
    detail = api_client.get(f"/api/projects/{project.slug}/answers/{result['results'][0]['annotation_id']}")
    assert detail.status_code == 200
    for body in (json.dumps(payload), detail.content.decode(), json.dumps(result)):
        assert "gold" not in body.lower()
        assert "correct" not in body.lower()
    # the researcher view of the project (which counts gold) is a 404 for a volunteer
    assert api_client.get(f"/api/projects/{project.slug}/").status_code == 404


def test_api_post_without_csrf_token_is_refused_for_session_users(make_user):
    project, _ = make_project_with_items(slug="c", n_items=1, categories=("owl",))
    user = make_user("v")
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    item = next_items(user=user, project=project, n=1)[0]
    body = json.dumps({"answers": [one(item.id, {"label": 1})]})
    response = client.post(f"/api/projects/{project.slug}/answers", body, content_type="application/json")
    assert response.status_code == 403
    assert Annotation.objects.count() == 0


def test_html_form_without_csrf_token_is_403(make_user):
    user = make_user("v")
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    response = client.post("/profile/", {"show_on_leaderboard": ""})
    assert response.status_code == 403
    researcher = make_user("r", role="researcher")
    client.force_login(researcher)
    response = client.post("/projects/new/", {"name": "X", "slug": "x", "task_type": "verify"})
    assert response.status_code == 403
    assert not Project.objects.filter(slug="x").exists()


def test_invite_only_project_refuses_uninvited_volunteers(make_user, api_client):
    project, items = make_project_with_items(slug="secret", n_items=2, categories=("owl",),
                                             visibility=Project.Visibility.INVITE)  # fmt: skip
    outsider, member = make_user("out"), make_user("in")
    project.members.add(member)
    next_items(user=member, project=project, n=2)
    api_client.force_authenticate(outsider)
    assert api_client.get(f"/api/projects/{project.slug}/next").status_code == 404
    response = post_answers(api_client, project.slug, [one(items[0].id, {"label": 1})])
    assert response.status_code == 404
    assert response.json()["code"] == "project_not_found"
    skip = api_client.post(f"/api/projects/{project.slug}/skip", {"item_id": items[0].id}, format="json")
    assert skip.status_code == 404
    assert project.slug not in {p["slug"] for p in api_client.get("/api/projects/").json()}
    assert Annotation.objects.count() == 0
    api_client.force_authenticate(member)
    assert len(api_client.get(f"/api/projects/{project.slug}/next").json()["items"]) == 2


def test_late_answer_after_lease_expiry(make_user, api_client):
    from datetime import timedelta

    from django.utils import timezone

    from labeling.models import Lease

    project, (item,) = make_project_with_items(slug="late", n_items=1, categories=("owl",), needed_votes=1)
    slow, fast = make_user("slow"), make_user("fast")
    next_items(user=slow, project=project, n=1)
    Lease.objects.filter(user=slow).update(expires_at=timezone.now() - timedelta(minutes=1))
    api_client.force_authenticate(slow)
    # still needed: accepted
    assert post_answers(api_client, project.slug, [one(item.id, {"label": 1})]).status_code == 200

    project2, (item2,) = make_project_with_items(slug="late2", n_items=1, categories=("owl",), needed_votes=1, seed=5)
    next_items(user=slow, project=project2, n=1)
    Lease.objects.filter(user=slow, item=item2).update(expires_at=timezone.now() - timedelta(minutes=1))
    assert next_items(user=fast, project=project2, n=1) == [item2]  # reclaimed by someone else
    response = post_answers(api_client, project2.slug, [one(item2.id, {"label": 1})])
    assert response.status_code == 409
    assert response.json()["code"] == "lease_expired"
    assert Annotation.objects.filter(item=item2).count() == 0
