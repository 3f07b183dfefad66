"""Detection projects (box_mode detect): a category per box in answers, consensus per category, review fixes that
move, resize, delete, relabel and add boxes and become gold, through the services and the API."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from annotate.exceptions import ServiceError
from labeling.models import Annotation, Item, Lease, Project, ReviewAction
from labeling.services.annotations import annotation_submit, annotations_submit_batch
from labeling.services.projects import project_create
from labeling.services.quality import practice_feedback
from labeling.services.quality.review import review_accept, review_fix
from tests.labeling.quality.qfactories import join, make_project

pytestmark = pytest.mark.django_db


@pytest.fixture
def detect(make_user):
    owner = make_user("own", role="researcher")
    project, items = make_project(slug="det", owner=owner, task_type="boxes", box_mode="detect",
                                  categories=("car", "dog"), n_items=4, min_votes=3, max_votes=5)  # fmt: skip
    car, dog = project.categories.order_by("id").values_list("id", flat=True)
    return project, items, car, dog, owner


def submit(user, item, boxes):
    Lease.objects.update_or_create(item=item, user=user, defaults={"expires_at": timezone.now() + timedelta(minutes=5)})
    return annotation_submit(user=user, project=item.project, item_id=item.pk, submission_id=uuid.uuid4(),
                             answer={"boxes": boxes})  # fmt: skip


def box(x, y, w, h, category):
    return {"x": x, "y": y, "w": w, "h": h, "category": category}


def test_answer_carries_a_category_per_box(detect, make_user):
    _project, items, car, dog, _ = detect
    ann = submit(make_user("v1"), items[0], [box(1, 2, 10.123, 8, car), box(20, 5, 15, 20, dog)])
    stored = Annotation.objects.get(pk=ann.pk).answer
    assert stored == {"boxes": [[1.0, 2.0, 10.12, 8.0, car], [20.0, 5.0, 15.0, 20.0, dog]]}
    empty = submit(make_user("v2"), items[0], [])  # "nothing to mark" is an answer
    assert Annotation.objects.get(pk=empty.pk).answer == {"boxes": []}


@pytest.mark.parametrize(
    ("boxes", "fragment"),
    [
        ([[1, 2, 10, 8]], "category"),  # a single-class box in a detection project
        ([{"x": 1, "y": 2, "w": 10, "h": 8}], "category"),
        ([{"x": 1, "y": 2, "w": 10, "h": 8, "category": "car"}], "category id"),
        ([{"x": 1, "y": 2, "w": 10, "h": 8, "category": True}], "category id"),
        ([{"x": 35, "y": 2, "w": 10, "h": 8, "category": "CAR"}], "outside"),  # a real category, x + w > 40
    ],
)
def test_bad_detection_boxes_are_refused(detect, make_user, boxes, fragment):
    _project, items, car, _, _ = detect
    boxes = [{**b, "category": car} if isinstance(b, dict) and b.get("category") == "CAR" else b for b in boxes]
    with pytest.raises(ServiceError) as info:
        submit(make_user("v1"), items[0], boxes)
    assert info.value.code == "invalid_answer" and fragment in info.value.message
    assert not Annotation.objects.exists()


def test_category_of_another_project_is_refused(detect, make_user):
    _project, items, *_ = detect
    other, _ = make_project(slug="other", task_type="boxes", box_mode="detect", categories=("cat",), n_items=0)
    foreign = other.categories.get().pk
    with pytest.raises(ServiceError) as info:
        submit(make_user("v1"), items[0], [box(1, 1, 5, 5, foreign)])
    assert info.value.code == "invalid_answer" and str(foreign) in info.value.message


def test_single_mode_unchanged(make_user):
    project, items = make_project(slug="single", task_type="boxes", categories=("car",), n_items=1)
    assert project.box_mode == "single" and not project.detects
    car = project.categories.get().pk
    with pytest.raises(ServiceError):
        submit(make_user("v1"), items[0], [box(1, 1, 5, 5, car)])
    ann = submit(make_user("v2"), items[0], [[1, 1, 5, 5]])
    assert Annotation.objects.get(pk=ann.pk).answer == {"boxes": [[1.0, 1.0, 5.0, 5.0]]}


def test_consensus_per_category_finishes_the_item(detect, make_user):
    _project, items, car, dog, _ = detect
    item = items[0]
    drawn = [
        [box(1, 1, 20, 15, car), box(22, 10, 15, 18, dog)],
        [box(2, 1, 19, 15, car), box(22, 11, 15, 17, dog)],
        [box(1, 2, 20, 14, car), box(23, 10, 14, 18, dog)],
    ]
    for i, boxes in enumerate(drawn):
        submit(make_user(f"v{i}"), item, boxes)
    item.refresh_from_db()
    assert item.status == Item.Status.DONE and item.confidence >= 0.75
    assert [b[4] for b in item.answer["boxes"]] == [car, dog]  # objects grouped by category id
    assert item.answer["boxes"][0][:4] == [1.0, 1.0, 20.0, 15.0]  # per-coordinate median of the car boxes
    assert item.answer["support"] == [3, 3]


def test_category_disagreement_keeps_asking(detect, make_user):
    # Same places, but one annotator calls the car a dog: the car keeps its quorum (2 of 3), the stray dog box
    # joins no supported object, so agreement drops below the target and the item asks for a fourth vote.
    project, items, car, dog, _ = detect
    item = items[1]
    join(project, [make_user("spare")])  # a fourth known volunteer who could answer (else: review, finding 14)
    submit(make_user("v0"), item, [box(1, 1, 20, 15, car)])
    submit(make_user("v1"), item, [box(1, 1, 20, 15, car)])
    submit(make_user("v2"), item, [box(1, 1, 20, 15, dog)])
    item.refresh_from_db()
    assert item.status == Item.Status.OPEN and item.needed_votes == 4
    assert item.answer["boxes"] == [[1.0, 1.0, 20.0, 15.0, car]]
    assert item.confidence == pytest.approx(2 / 3, abs=1e-6)
    # The same boxes in single-class mode would have agreed at once.
    _single, (plain,) = make_project(slug="single", task_type="boxes", categories=("car",), n_items=1, seed0=2000)
    for i in range(3):
        submit(make_user(f"s{i}"), plain, [[1, 1, 20, 15]])
    plain.refresh_from_db()
    assert plain.status == Item.Status.DONE


def test_batch_of_detection_answers_costs_constant_queries(detect, make_user):
    project, items, car, dog, _ = detect
    counts = []
    for n, user in ((1, make_user("q1")), (3, make_user("q3"))):
        answers = []
        for item in items[:n]:
            Lease.objects.create(item=item, user=user, expires_at=timezone.now() + timedelta(minutes=5))
            answers.append({"item_id": item.pk, "submission_id": str(uuid.uuid4()),
                            "answer": {"boxes": [box(1, 1, 5, 5, car), box(10, 10, 5, 5, dog)]}})  # fmt: skip
        with CaptureQueriesContext(connection) as ctx:
            results = annotations_submit_batch(user=user, project=project, answers=answers)
        assert all(r["ok"] for r in results), results
        counts.append(len(ctx.captured_queries))
    assert counts[0] == counts[1], counts  # the categories are read once per batch, not per answer or box


def test_review_fix_moves_resizes_deletes_relabels_and_adds(detect, make_user):
    project, items, car, dog, _ = detect
    item = items[2]
    for i in range(3):
        submit(make_user(f"v{i}"), item, [box(1, 1, 10, 10, car), box(20, 10, 10, 10, car)])
    reviewer = make_user("rev", role="reviewer")
    project.reviewers.add(reviewer)
    # The first car moved and resized, the second relabelled as a dog, a third object added, nothing deleted yet.
    fixed = [box(3, 2, 12, 11, car), box(20, 10, 10, 10, dog), box(30, 20, 8, 8, dog)]
    item = review_fix(item=item, boxes=fixed, reviewer=reviewer)
    item.refresh_from_db()
    stored = [[3.0, 2.0, 12.0, 11.0, car], [20.0, 10.0, 10.0, 10.0, dog], [30.0, 20.0, 8.0, 8.0, dog]]
    assert item.is_gold and item.status == Item.Status.ACCEPTED
    assert item.gold_answer == {"boxes": stored} and item.answer == {"boxes": stored}
    action = ReviewAction.objects.get(item=item)
    assert action.action == "fix" and action.previous_status == Item.Status.DONE and action.reviewer == reviewer
    # The fix is gold: a volunteer's answer is judged against it, per category.
    assert practice_feedback(item=item, label=None, answer={"boxes": stored}).correct
    swapped = [[*b[:4], dog if b[4] == car else car] for b in stored]
    assert not practice_feedback(item=item, label=None, answer={"boxes": swapped}).correct
    # Deleting every box is a fix too ("nothing to mark").
    item = review_fix(item=item, boxes=[], reviewer=reviewer)
    assert Item.objects.get(pk=item.pk).answer == {"boxes": []}


def test_review_fix_validates_like_an_answer(detect, make_user):
    _project, items, car, _, _ = detect
    reviewer = make_user("rev", role="reviewer")
    with pytest.raises(ServiceError) as info:
        review_fix(item=items[3], boxes=[box(1, 1, 5, 5, 10**6)], reviewer=reviewer)
    assert info.value.code == "invalid_boxes"
    with pytest.raises(ServiceError) as info:
        review_fix(item=items[3], label=car, reviewer=reviewer)  # a box project needs boxes
    assert info.value.code == "invalid_boxes"
    item = Item.objects.get(pk=items[3].pk)
    assert not item.is_gold and not ReviewAction.objects.exists()
    with pytest.raises(ServiceError):
        review_accept(item=item, reviewer=reviewer)  # no consensus boxes yet


def test_review_fix_through_the_api(detect, make_user, client):
    project, items, car, dog, _ = detect
    item = items[0]
    for i in range(3):
        submit(make_user(f"v{i}"), item, [box(1, 1, 10, 10, car)])
    reviewer = make_user("rev", role="reviewer")
    project.reviewers.add(reviewer)
    client.force_login(reviewer)
    url = f"/api/projects/{project.slug}/review/{item.pk}"
    bad = client.post(url, {"action": "fix", "boxes": [box(1, 1, 10, 10, 999999)]}, content_type="application/json")
    assert bad.status_code == 400 and bad.json()["code"] == "invalid_boxes"
    ok = client.post(url, {"action": "fix", "boxes": [box(2, 2, 10, 10, dog)]}, content_type="application/json")
    assert ok.status_code == 200, ok.content
    assert ok.json()["is_gold"] and ok.json()["status"] == "accepted"
    assert Item.objects.get(pk=item.pk).answer == {"boxes": [[2.0, 2.0, 10.0, 10.0, dog]]}
    other = make_user("stranger", role="reviewer")
    client.force_login(other)
    assert client.post(url, {"action": "fix", "boxes": []}, content_type="application/json").status_code == 404


def test_project_box_mode_at_creation(make_user, client):
    with pytest.raises(ServiceError) as info:
        project_create(slug="v", task_type="verify", box_mode="detect")
    assert info.value.code == "invalid_box_mode"
    client.force_login(make_user("res", role="researcher"))
    body = {"slug": "coco", "task_type": "boxes", "box_mode": "detect", "categories": [{"name": "car"}]}
    resp = client.post("/api/projects/create/", body, content_type="application/json")
    assert resp.status_code == 201, resp.content
    assert resp.json()["box_mode"] == "detect" and Project.objects.get(slug="coco").detects
    plain = client.post("/api/projects/create/", {"slug": "loc", "task_type": "boxes"}, content_type="application/json")
    assert plain.json()["box_mode"] == "single"
