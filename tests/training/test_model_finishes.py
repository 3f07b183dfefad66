"""A model proven on checked items counts as a voter (issue 14, model-assisted labelling): one human vote and a
proven model may finish an item, and with min_votes = 0 a proven, sure model finishes items alone. The same rule
holds in the model voter, the online update after a vote and the full re-aggregation."""

from __future__ import annotations

import math
import uuid

import numpy as np
import pytest

from labeling.models import DatasetVersion, Item, ModelOpinion, Project
from labeling.services.annotations import annotations_submit_batch
from labeling.services.assignment import next_items
from labeling.services.dataset_card import _review_text
from labeling.services.project_settings import project_update
from labeling.services.quality import project_reaggregate
from labeling.services.quality.engine import decide, is_audit_item, project_classes
from tests.helpers.factories import make_project_with_items
from training.services.voter import model_confusion, model_votes_fold

pytestmark = pytest.mark.django_db

SURE, UNSURE = 0.995, 0.6
CONF = model_confusion([0] * 40 + [1] * 40, [0] * 40 + [1] * 40, 2)  # 80 of 80 right on checked items


def _project(min_votes: int, audit_rate: float = 0.0) -> tuple[Project, list[Item], list[int]]:
    project, items = make_project_with_items(
        slug=f"auto{min_votes}", task_type=Project.TaskType.CLASSIFY, n_items=30, categories=("cat", "dog"),
        needed_votes=max(min_votes, 1), max_votes=5, gold=2,
    )  # fmt: skip
    project_update(project=project, min_votes=min_votes, audit_rate=audit_rate, confidence_target=0.95)
    return project, [it for it in items if not it.is_gold], project_classes(project)


def _preds(items: list[Item], labels: list[int]) -> dict[int, dict[str, float]]:
    """The model says the first label for every item: surely on even positions, timidly on odd ones."""
    out = {}
    for i, item in enumerate(items):
        p = SURE if i % 2 == 0 else UNSURE
        out[item.pk] = {str(labels[0]): p, str(labels[1]): 1 - p}
    return out


def _fold(project, labels, preds, *, proven: bool):
    return model_votes_fold(project=project, labels=labels, preds=preds, conf=CONF, max_weight=math.log(99),
                            source=ModelOpinion.Source.RUN, proven=proven)  # fmt: skip


def test_decide_counts_a_proven_model_as_a_voter():
    sure = np.array([0.99, 0.01])
    kw = {"posterior": sure, "max_votes": 5, "target": 0.95, "prior_accuracy": 0.7}
    assert decide(n_votes=0, min_votes=0, **kw).status == Item.Status.OPEN  # no voter at all
    assert decide(n_votes=0, min_votes=0, model_voter_proven=True, **kw).status == Item.Status.DONE
    assert decide(n_votes=0, min_votes=1, model_voter_proven=True, **kw).status == Item.Status.OPEN
    assert decide(n_votes=1, min_votes=1, **kw).status == Item.Status.OPEN  # one unproven human
    assert decide(n_votes=1, min_votes=1, model_voter_proven=True, **kw).status == Item.Status.DONE
    assert decide(n_votes=0, min_votes=0, model_voter_proven=True, audit=True, **kw).status == Item.Status.OPEN
    timid = {**kw, "posterior": np.array([0.6, 0.4])}
    assert decide(n_votes=0, min_votes=0, model_voter_proven=True, **timid).status == Item.Status.OPEN


def test_a_proven_sure_model_finishes_items_alone_only_when_min_votes_is_zero():
    project, items, labels = _project(min_votes=0)
    gold_before = list(Item.objects.filter(project=project, is_gold=True).values("status", "label", "model_opinions"))
    preds = _preds(items, labels)

    _fold(project, labels, preds, proven=False)  # measured, but not proven: it only ever helps humans
    assert not Item.objects.filter(project=project, status=Item.Status.DONE).exists()

    considered, updated, done = _fold(project, labels, preds, proven=True)
    assert updated == 30  # every item got the model posterior; the sure half is done
    sure = [it.pk for i, it in enumerate(items) if i % 2 == 0]
    assert (considered, done) == (30, 15)
    finished = Item.objects.filter(project=project, status=Item.Status.DONE)
    assert sorted(finished.values_list("pk", flat=True)) == sorted(sure)
    assert set(finished.values_list("votes_count", flat=True)) == {0}
    assert set(finished.values_list("label", flat=True)) == {labels[0]}
    assert all(ModelOpinion.objects.get(item=it).proven for it in finished)
    assert list(Item.objects.filter(project=project, is_gold=True).values("status", "label", "model_opinions")) == (
        gold_before
    )  # gold never takes a model vote

    # The dataset card says so (its review paragraph reads the items; an unsaved version has no filters).
    assert "15 items were labelled by a model proven on checked items, with no human vote." in _review_text(
        project, DatasetVersion(project=project, filters={})
    )

    # The full re-aggregation applies the same rule: it keeps them done instead of reopening them.
    result = project_reaggregate(project_id=project.pk)
    assert result.reopened == []
    assert sorted(Item.objects.filter(project=project, status=Item.Status.DONE).values_list("pk", flat=True)) == (
        sorted(sure)
    )


def test_min_votes_one_needs_a_human_and_a_proven_model_then_stops_at_one_vote(make_user):
    project, items, labels = _project(min_votes=1)
    _fold(project, labels, _preds(items, labels), proven=True)
    assert not Item.objects.filter(project=project, status=Item.Status.DONE).exists()  # nobody has voted yet

    volunteer = make_user("vic")
    served = next_items(user=volunteer, project=project, n=30)
    answers = [{"item_id": it.pk, "submission_id": uuid.uuid4(), "answer": {"category": labels[0]}} for it in served]
    results = annotations_submit_batch(user=volunteer, project=project, answers=answers)
    assert all(r["ok"] for r in results), results
    sure = {it.pk for i, it in enumerate(items) if i % 2 == 0}
    done = set(Item.objects.filter(project=project, status=Item.Status.DONE).values_list("pk", flat=True))
    served_sure = sure & {it.pk for it in served}
    assert served_sure and done == served_sure  # one human + a proven, sure model; timid ones wait for more


def test_audit_items_still_collect_their_human_votes():
    project, items, labels = _project(min_votes=0, audit_rate=0.5)
    _fold(project, labels, _preds(items, labels), proven=True)
    audited = {it.pk for it in items if is_audit_item(it.pk, 0.5)}
    assert audited, "the hash should mark some of 30 items at rate 0.5"
    done = set(Item.objects.filter(project=project, status=Item.Status.DONE).values_list("pk", flat=True))
    assert done and not (done & audited)


def test_items_a_model_vote_finished_are_re_decided_when_the_categories_change(
    make_user, django_capture_on_commit_callbacks
):
    """The model's vote is void once the class space changes (ModelOpinion rows deleted): an item that one human
    and the model finished goes back to open at once, not at its next vote or re-aggregation."""
    from labeling.models import Category
    from labeling.services.categories import category_update

    project, items, labels = _project(min_votes=1)
    _fold(project, labels, _preds(items, labels), proven=True)
    volunteer = make_user("vic")
    served = next_items(user=volunteer, project=project, n=30)
    answers = [{"item_id": it.pk, "submission_id": uuid.uuid4(), "answer": {"category": labels[0]}} for it in served]
    annotations_submit_batch(user=volunteer, project=project, answers=answers)
    done = set(Item.objects.filter(project=project, status=Item.Status.DONE).values_list("pk", flat=True))
    assert done  # one human + the proven model

    with django_capture_on_commit_callbacks(execute=True):
        category_update(category=Category.objects.get(project=project, name="cat"), name="kitten")
    assert not ModelOpinion.objects.filter(item__project=project).exists()
    still = Item.objects.filter(pk__in=done, status=Item.Status.DONE).count()
    assert still == 0  # one human vote alone does not reach the target: they wait for more votes
    assert Item.objects.filter(pk__in=done, status=Item.Status.OPEN).count() == len(done)
