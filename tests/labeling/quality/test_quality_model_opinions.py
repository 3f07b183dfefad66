"""Model opinions as typed rows (issue 22, build: "model opinions as typed rows ... invalidated when categories
change, instead of a JSON bag one writer can erase"): one row per source, one writer, invalidated by category
changes, and the data migration from `Item.model_probs`."""

from __future__ import annotations

import math

import numpy as np
import pytest

from labeling.models import Category, Item, ModelOpinion
from labeling.services.quality.engine import project_classes
from labeling.services.quality.opinions import Opinion, model_opinions_write, stored_vote
from tests.labeling.quality.qfactories import cast, join, make_project

S = ModelOpinion.Source


@pytest.mark.django_db
def test_the_zero_shot_pre_screen_keeps_a_runs_vote_and_the_finders_note(make_user):
    from training.services.voter import model_confusion, model_votes_fold
    from training.services.zero_shot import _write_opinions

    project, items = make_project(slug="keep", task_type="classify", categories=("a", "b"), n_items=2)
    labels = project_classes(project)
    item = items[0]
    join(project, [make_user("w")])  # someone who may still answer: the item stays open
    cast(make_user("u"), item, labels[0])
    conf = model_confusion([0] * 20 + [1] * 20, [0] * 20 + [1] * 20, 2)
    model_votes_fold(project=project, labels=labels, preds={item.pk: {str(labels[0]): 0.9, str(labels[1]): 0.1}},
                     conf=conf, max_weight=math.log(9), source=S.RUN)  # fmt: skip
    model_opinions_write(opinions=[Opinion(item.pk, S.LABEL_ERROR, [labels[1]], [0.8], detail={"folds": 3})])
    run_vote = stored_vote(item)
    assert run_vote is not None and run_vote.class_ids == tuple(labels)

    _write_opinions({item.pk: np.array([0.3, 0.7])}, labels)  # it used to replace the whole bag
    rows = dict(ModelOpinion.objects.filter(item=item).values_list("source", "vote"))
    assert set(rows) == {S.RUN, S.ZERO_SHOT, S.LABEL_ERROR}
    assert rows[S.ZERO_SHOT] is None and rows[S.RUN] is not None  # not measured yet: no vote of its own
    assert stored_vote(item) == run_vote  # the run's vote still counts


@pytest.mark.django_db
def test_category_changes_invalidate_the_projects_opinions(make_user):
    from labeling.services.categories import category_delete, category_update
    from labeling.services.projects import category_upsert

    project, items = make_project(slug="inval", task_type="classify", categories=("a", "b"), n_items=2)
    _other, other_items = make_project(slug="other", task_type="classify", categories=("a",), n_items=1)
    a, b = Category.objects.filter(project=project).order_by("id")

    def fill() -> None:
        model_opinions_write(opinions=[
            Opinion(i.pk, S.RUN, [a.pk, b.pk], [0.9, 0.1], vote=[0.9, 0.1]) for i in [*items, *other_items]
        ])  # fmt: skip

    def left() -> set[int]:
        return set(ModelOpinion.objects.values_list("item_id", flat=True))

    fill()
    category_update(category=a, name="a", definition="the same answer, better explained")
    assert left() == {i.pk for i in [*items, *other_items]}  # a definition does not change the class space
    category_update(category=a, name="alpha")  # renamed: the answer may mean something else
    assert left() == {other_items[0].pk}  # only this project's
    fill()
    category_upsert(project=project, name="c")  # a new answer the models never had
    assert left() == {other_items[0].pk}
    fill()
    category_upsert(project=project, name="c", wnid="n01530575")  # another synset
    assert left() == {other_items[0].pk}
    fill()
    category_delete(category=Category.objects.get(project=project, name="c"))
    assert left() == {other_items[0].pk}
    assert stored_vote(Item.objects.get(pk=items[0].pk)) is None  # the decider sees no vote


@pytest.fixture
def fresh_migration_modules():
    """Forget the migration modules the test's MigrationLoader imported: a later `migrate` (the demo seed's) would
    otherwise reload them instead of importing them, and the demo test then went another way on PostgreSQL."""
    import sys

    before = set(sys.modules)
    yield
    for name in set(sys.modules) - before:
        if ".migrations" in name:
            del sys.modules[name]


@pytest.mark.django_db
@pytest.mark.usefixtures("fresh_migration_modules")
def test_the_migration_turns_model_probs_into_rows(make_user):
    """The data step of 0016 on the state between its CreateModel and its RemoveField: the old column comes back
    for the test (inside its transaction: both databases roll DDL back), read through the historical models.
    (Not MigrationExecutor: on SQLite that needs a transactional test, whose flush breaks later tests' data.)"""
    import importlib

    from django.db import connection
    from django.db.migrations.loader import MigrationLoader

    migration = importlib.import_module("labeling.migrations.0016_model_opinions_replace_model_probs")
    _project, items = make_project(slug="mig", n_items=5)
    state = MigrationLoader(connection).project_state(
        [("labeling", "0015_plurals_round3"), ("training", "0003_demo_model_jobs")]
    )
    migration.Migration.operations[0].state_forwards("labeling", state)  # CreateModel ModelOpinion
    old = state.apps.get_model("labeling", "Item")
    column = "jsonb" if connection.vendor == "postgresql" else "text"
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":  # (deferred foreign-key checks of the rows above would block it)
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute(f"ALTER TABLE labeling_item ADD COLUMN model_probs {column} NULL")
    bags = [
        {"run": 999, "labels": {"0": 0.03, "1": 0.97}, "predicted": 1, "entropy": 0.19, "margin": 0.94,
         "vote": {"0": 0.1, "1": 0.9}, "max_weight": 2.197225, "proven": True,
         "label_error": {"suggested": 0, "given": 1, "score": 0.8, "folds": 3, "version": 4}},
        {"source": "zero-shot efficientnet_lite0 (ImageNet-1k)", "labels": {"0": 0.4, "1": 0.6}, "predicted": 1},
        {"0": 0.2, "1": 0.8},  # an older flat row
        {"predicted": "cat", "entropy": "high"},  # nothing usable
        None,
    ]  # fmt: skip
    for item, bag in zip(items, bags, strict=True):
        old.objects.filter(pk=item.pk).update(model_probs=bag)
    migration.opinions_from_model_probs(state.apps, None)
    rows = {(o.item_id, o.source): o for o in ModelOpinion.objects.all()}
    assert set(rows) == {(items[0].pk, S.RUN), (items[0].pk, S.LABEL_ERROR), (items[1].pk, S.ZERO_SHOT),
                         (items[2].pk, S.RUN)}  # fmt: skip
    run = rows[items[0].pk, S.RUN]
    assert (run.run_id, run.class_ids, run.probabilities, run.vote, run.proven) == (None, [0, 1], [0.03, 0.97],
                                                                                    [0.1, 0.9], True)  # fmt: skip
    assert (run.predicted, run.confidence, run.entropy, run.max_weight) == (1, 0.97, 0.19, 2.197225)
    note = rows[items[0].pk, S.LABEL_ERROR]
    assert (note.predicted, note.confidence, note.detail["folds"]) == (0, 0.8, 3)
    zero = rows[items[1].pk, S.ZERO_SHOT]
    assert (zero.vote, zero.predicted) == (None, 1)
    assert zero.detail == {"model": "zero-shot efficientnet_lite0 (ImageNet-1k)"}
    assert rows[items[2].pk, S.RUN].predicted == 1
    assert stored_vote(Item.objects.get(pk=items[0].pk)).likelihoods == (0.1, 0.9)


@pytest.mark.django_db
def test_invalidating_a_project_without_opinions_is_one_small_read(make_user, django_assert_num_queries):
    """Every created category invalidates (an import of a thousand categories, ingestion naming folders): with no
    opinion stored it is one EXISTS, not a select and a delete over the project's items each time."""
    from labeling.services.quality.opinions import model_opinions_invalidate

    project, _items = make_project(slug="none-yet", task_type="classify", categories=("a", "b"), n_items=3)
    with django_assert_num_queries(1):
        assert model_opinions_invalidate(project_id=project.pk) == 0
