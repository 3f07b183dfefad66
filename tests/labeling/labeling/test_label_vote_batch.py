"""The set-based vote path (annotations_submit_batch, issue 13): a batch judges each answer as if it were its own
request, in order, so one bad answer never costs the good ones beside it and every result is what the answer
alone would have got."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from labeling.models import Annotation, AnnotatorScore, Item, Lease
from labeling.services.annotations import annotation_submit, annotations_submit_batch
from labeling.services.assignment import next_items
from tests.helpers.factories import make_project_with_items

pytestmark = pytest.mark.django_db


def _script(items, sid):
    """Every kind of answer a batch can hold; `sid` maps a name to this user's submission ids."""
    a, b, c, d, e = items[:5]
    return [
        {"item_id": a.pk, "submission_id": sid("a"), "answer": {"label": 1}},  # stored
        {"item_id": a.pk, "submission_id": sid("a"), "answer": {"label": 1}},  # a retry: the stored answer
        {"item_id": a.pk, "submission_id": sid("x"), "answer": {"label": 0}},  # a second answer: 409
        {"item_id": b.pk, "submission_id": sid("a"), "answer": {"label": 1}},  # a's submission id reused: 409
        {"item_id": 10**9, "submission_id": sid("y"), "answer": {"label": 1}},  # no such item: 404
        {"item_id": c.pk, "submission_id": sid("c"), "answer": {"label": 7}},  # invalid: 400, lease kept
        {"item_id": d.pk, "submission_id": sid("d"), "answer": {"label": 0}, "client_info": []},  # 400
        {"item_id": e.pk, "submission_id": sid("e"), "answer": {"label": 0}},  # stored
        {"item_id": b.pk, "submission_id": sid("b"), "answer": {"label": 1}},  # stored
    ]


def _shape(results):
    return [(r["ok"], r.get("code"), r.get("status"), r.get("created")) for r in results]


def test_a_batch_gives_every_answer_the_result_it_would_get_alone(make_user):
    project, items = make_project_with_items(slug="batch", n_items=8, categories=("owl",), needed_votes=3)
    together, alone = make_user("together"), make_user("alone")
    for user in (together, alone):
        assert len(next_items(user=user, project=project, n=12)) == 8
    unleased = items[7]
    Lease.objects.filter(item=unleased).delete()
    sids: dict[tuple, uuid.UUID] = {}

    def sid_for(user):
        return lambda name: sids.setdefault((user.pk, name), uuid.uuid4())

    late = {"item_id": unleased.pk, "answer": {"label": 1}}  # not leased: 404
    script = [*_script(items, sid_for(together)), {**late, "submission_id": sid_for(together)("u")}]
    batch = annotations_submit_batch(user=together, project=project, answers=script)
    one_by_one = []
    alone_script = [*_script(items, sid_for(alone)), {**late, "submission_id": sid_for(alone)("u")}]
    for answer in alone_script:
        one_by_one += annotations_submit_batch(user=alone, project=project, answers=[answer])
    assert _shape(batch) == _shape(one_by_one)
    assert _shape(batch) == [
        (True, None, None, True),
        (True, None, None, False),
        (False, "already_answered", 409, None),
        (False, "submission_id_reused", 409, None),
        (False, "item_not_found", 404, None),
        (False, "invalid_answer", 400, None),
        (False, "invalid_client_info", 400, None),
        (True, None, None, True),
        (True, None, None, True),
        (False, "not_assigned", 404, None),
    ]
    assert batch[1]["annotation_id"] == batch[0]["annotation_id"]
    assert [r["item_id"] for r in batch] == [a["item_id"] for a in script]
    a, c, d = items[0], items[2], items[3]
    assert Item.objects.get(pk=a.pk).votes_count == 2 and Item.objects.get(pk=c.pk).votes_count == 0
    assert set(Lease.objects.filter(user=together).values_list("item_id", flat=True)) == {c.pk, d.pk, items[5].pk,
                                                                                          items[6].pk}  # fmt: skip
    assert Annotation.objects.filter(user=together).count() == 3
    assert AnnotatorScore.objects.get(project=project, user=together).volume == 3


def test_an_expired_lease_counts_while_the_item_needs_votes_and_not_after(make_user):
    project, items = make_project_with_items(slug="late", n_items=2, categories=("owl",), needed_votes=1)
    user = make_user("late")
    next_items(user=user, project=project, n=12)
    Lease.objects.filter(user=user).update(expires_at=timezone.now() - timedelta(seconds=1))
    other = make_user("other")
    taken = next_items(user=other, project=project, n=12, only_ids=[items[1].pk])
    assert [i.pk for i in taken] == [items[1].pk]  # items[1] is full again, items[0] still needs its vote
    answers = [{"item_id": i.pk, "submission_id": uuid.uuid4(), "answer": {"label": 1}} for i in items[:2]]
    results = annotations_submit_batch(user=user, project=project, answers=answers)
    assert _shape(results) == [(True, None, None, True), (False, "lease_expired", 409, None)]


def test_a_gold_answer_that_blocks_its_author_refuses_the_rest_of_the_batch(make_user):
    """As when each answer was its own request: the fifth wrong gold answer blocks, the answers after it are
    refused (403) and stored nothing, their leases stay; the answers before it stand."""
    project, items = make_project_with_items(slug="blk", n_items=4, gold=5, categories=("owl",), needed_votes=3)
    gold = [i for i in items if i.is_gold]
    regular = [i for i in items if not i.is_gold]
    user = make_user("spammer")
    expires = timezone.now() + timedelta(minutes=5)
    for item in items:
        Lease.objects.create(item=item, user=user, expires_at=expires)
    for item in gold[:4]:
        annotation_submit(user=user, project=project, item_id=item.pk, submission_id=uuid.uuid4(), answer={"label": 0})
    batch = [regular[0], gold[4], regular[1], regular[2]]
    answers = [{"item_id": i.pk, "submission_id": uuid.uuid4(), "answer": {"label": 0}} for i in batch]
    results = annotations_submit_batch(user=user, project=project, answers=answers)
    assert (
        _shape(results)
        == [(True, None, None, True), (True, None, None, True)] + [(False, "annotator_blocked", 403, None)] * 2
    )
    score = AnnotatorScore.objects.get(project=project, user=user)
    assert score.status == AnnotatorScore.Status.BLOCKED and score.gold_seen == 5 and score.volume == 6
    assert set(Annotation.objects.filter(user=user).values_list("item_id", flat=True)) == {
        *(i.pk for i in gold),
        regular[0].pk,
    }
    assert set(Lease.objects.filter(user=user).values_list("item_id", flat=True)) == {regular[1].pk, regular[2].pk,
                                                                                      regular[3].pk}  # fmt: skip
    assert Item.objects.get(pk=regular[1].pk).votes_count == 0
