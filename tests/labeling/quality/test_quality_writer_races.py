"""Every writer of an item's state racing a full re-aggregation (issue 22, Done-when: "findings 16-22 include a
test that races each writer against a re-aggregation"). Votes, gold and blocks are raced in
test_quality_one_owner.py; here the model voter, the zero-shot pre-screen, the label-error finder, the stalled
sweep and the reviewer's accept / reject / fix each write between the re-aggregation's snapshot read
(reaggregate_read) and its write (reaggregate_finish), on whichever database the suite runs on. The later writer's
effect must survive, and a second re-aggregation (which sees it) must not undo it either."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from labeling.models import Annotation, AnnotatorScore, Category, DatasetVersion, Item, ModelOpinion, ReviewAction
from labeling.services.quality import gold_set, project_reaggregate
from labeling.services.quality.reaggregate import reaggregate_finish, reaggregate_read
from tests.labeling.quality.qfactories import cast, join, make_project

pytestmark = pytest.mark.django_db


def _row(item: Item) -> Item:
    return Item.objects.get(pk=item.pk)


def _counted(item: Item) -> int:
    blocked = AnnotatorScore.objects.filter(project_id=item.project_id, status=AnnotatorScore.Status.BLOCKED)
    return Annotation.objects.filter(item=item).exclude(user_id__in=blocked.values("user_id")).count()


def _nothing_lost(items: list[Item]) -> None:
    """Every item counts exactly its counted votes (none dropped or doubled by the interleaving)."""
    for item in items:
        assert _row(item).votes_count == _counted(item), (item.pk, _row(item).votes_count, _counted(item))


def _opinions(item: Item) -> list[tuple]:
    """The item's model opinions (ModelOpinion rows), as comparable tuples."""
    rows = ModelOpinion.objects.filter(item_id=item.pk).order_by("source")
    return list(rows.values_list("source", "run_id", "class_ids", "probabilities", "vote", "proven", "detail"))


def _age_votes(items: list[Item], hours: float) -> None:
    Annotation.objects.filter(item__in=items).update(created_at=timezone.now() - timedelta(hours=hours))


# --- the model voter (training.services.voter)


def _version(project) -> DatasetVersion:
    return DatasetVersion.objects.create(project=project, number=1, classes=[], items_count=0, content_hash="0" * 64,
                                         seed=0, split_train=0.7, split_val=0.15, split_test=0.15)  # fmt: skip


def _predict(run, item: Item, p_yes: float) -> None:
    from training.models import ModelPrediction

    probs = {"0": 1.0 - p_yes, "1": p_yes}
    ModelPrediction.objects.create(run=run, item=item, probs=list(probs.values()), label_probs=probs,
                                   predicted_label=int(p_yes >= 0.5), confidence=max(p_yes, 1 - p_yes), entropy=0.3,
                                   margin=abs(2 * p_yes - 1))  # fmt: skip


def test_a_model_vote_during_a_reaggregation_survives_it(make_user):
    from training.models import TrainingRun
    from training.services.voter import model_voter_apply

    project, items = make_project(slug="rvoter", n_items=14, min_votes=2, max_votes=7, target=0.95)
    gold, target, other = items[:10], items[10], items[11:]
    run = TrainingRun.objects.create(version=_version(project), architecture="resnet18")
    for i, item in enumerate(gold):  # measured on ten checked items, right on each
        gold_set(item=item, label=i % 2)
        _predict(run, item, 0.95 if i % 2 else 0.05)
    users = [make_user(f"u{i}") for i in range(4)]
    for item in [target, *other]:
        for user in users[:2]:
            cast(user, item, 1)  # two yes votes: ~0.84 under the prior, not done without help
    assert _row(target).status == Item.Status.OPEN
    _predict(run, target, 0.99)

    snap = reaggregate_read(project_id=project.pk)
    report = model_voter_apply(run=run, project=project, min_checked=10)
    assert report.done == 1
    voted = _row(target)
    opinions = _opinions(target)
    assert voted.status == Item.Status.DONE and [o[4] is not None for o in opinions] == [True]
    result = reaggregate_finish(snap=snap)
    assert target.pk in result.changed_since_read  # it would have written its vote-less "open" back
    row = _row(target)
    assert (row.status, row.label, _opinions(row)) == (Item.Status.DONE, 1, opinions)
    project_reaggregate(project_id=project.pk)  # the next run reads the vote and decides the same
    again = _row(target)
    assert (again.status, again.label, _opinions(again)) == (Item.Status.DONE, 1, opinions)
    _nothing_lost(items)


# --- the zero-shot pre-screen (training.services.zero_shot)


@pytest.mark.slow
def test_zero_shot_opinions_written_during_a_reaggregation_survive_it(make_user):
    from training.services.zero_shot import SOURCE, zero_shot_apply

    project, items = make_project(slug="rzero", n_items=16, min_votes=3, max_votes=7, target=0.95)
    Category.objects.filter(project=project).update(wnid="n01530575")  # brambling: an ImageNet-1k synset
    gold, voted = items[:10], items[10:]
    for i, item in enumerate(gold):
        gold_set(item=item, label=i % 2)
    users = [make_user(f"u{i}") for i in range(3)]
    for item in voted:
        for user in users[:2]:
            cast(user, item, 1)

    snap = reaggregate_read(project_id=project.pk)
    report = zero_shot_apply(project=project, device="cpu", min_checked=10)
    assert report.predicted == 16 and report.checked == 10 and report.considered == len(voted)
    written = {i.pk: (_opinions(i), i.status, i.posterior) for i in Item.objects.filter(pk__in=[v.pk for v in voted])}
    for opinions, _, _ in written.values():
        assert [(o[0], o[4] is not None, o[6]) for o in opinions] == [("zero_shot", True, {"model": SOURCE})]
    result = reaggregate_finish(snap=snap)
    assert set(written) <= set(result.changed_since_read)  # each would have been written from the stale read
    after = {i.pk: (_opinions(i), i.status, i.posterior) for i in Item.objects.filter(pk__in=[v.pk for v in voted])}
    assert after == written
    project_reaggregate(project_id=project.pk)
    assert all(_opinions(v) == written[v.pk][0] for v in voted)  # re-aggregation never drops an opinion
    _nothing_lost(items)


# --- the label-error finder (training.services.label_errors)


@pytest.mark.slow
def test_items_the_label_error_finder_flags_during_a_reaggregation_stay_in_review(make_user, settings, tmp_path):
    from labeling.models import DatasetVersionItem
    from tests.training.factories import shapes_version
    from training.services.label_errors import label_errors_find

    settings.ANNOTATE = {**settings.ANNOTATE, "CHECKPOINT_DIR": str(tmp_path / "ckpt")}
    s = shapes_version(owner=make_user("rita", role="researcher"), n_per_class=9, size=32)
    rows = list(DatasetVersionItem.objects.filter(version=s.version).order_by("id"))
    names = {int(c["index"]): c["name"] for c in s.version.classes}
    for row in rows[::7]:  # four labels flipped in the version
        row.class_index = (row.class_index + 1) % 3
        row.label_name = names[row.class_index]
        row.save(update_fields=["class_index", "label_name"])
    items = list(Item.objects.filter(project=s.project).order_by("id"))
    users = [make_user(f"u{i}") for i in range(3)]
    for item in items:  # the crowd's votes (three agreeing: done), so that the re-aggregation has decisions to write
        for user in users:
            cast(user, item, _row(item).label)
    assert not Item.objects.filter(project=s.project).exclude(status=Item.Status.DONE).exists()

    snap = reaggregate_read(project_id=s.project.pk)
    report = label_errors_find(version=s.version, folds=3, device="cpu")
    assert report.flagged >= 1
    flagged = list(Item.objects.filter(project=s.project, status=Item.Status.REVIEW))
    assert {i.review_reason for i in flagged} == {Item.ReviewReason.MODEL_DISAGREES_CV}
    notes = {i.pk: _opinions(i) for i in flagged}
    assert all([o[0] for o in opinions] == ["label_error"] for opinions in notes.values())
    reaggregate_finish(snap=snap)
    project_reaggregate(project_id=s.project.pk)  # finding 17: not even a run that reads the routing undoes it
    for item in flagged:
        row = _row(item)
        assert (row.status, row.review_reason) == (Item.Status.REVIEW, Item.ReviewReason.MODEL_DISAGREES_CV)
        assert _opinions(row) == notes[item.pk]
    _nothing_lost(items)


# --- the stalled sweep (labeling.services.quality.stalled)


def test_an_item_the_sweep_routes_during_a_reaggregation_stays_routed(make_user):
    from labeling.services.quality.stalled import items_route_stalled

    project, items = make_project(slug="rstall", n_items=3, min_votes=3, max_votes=7, target=0.95)
    project.stall_hours = 1
    project.save(update_fields=["stall_hours"])
    users = [make_user(f"u{i}") for i in range(3)]
    cast(users[0], items[0], 1)
    cast(users[0], items[1], 1)
    cast(users[1], items[1], 1)
    _age_votes(items[:2], hours=2)  # waiting for a third vote for two hours; u1 and u2 could still give it

    snap = reaggregate_read(project_id=project.pk)
    swept = items_route_stalled(project=project)
    assert sorted(swept.stalled) == [items[0].pk, items[1].pk]
    reaggregate_finish(snap=snap)
    project_reaggregate(project_id=project.pk)  # finding 17: stalled items used to flip on every run
    for item in items[:2]:
        row = _row(item)
        assert (row.status, row.review_reason) == (Item.Status.REVIEW, Item.ReviewReason.STALLED)
    _nothing_lost(items)


def test_an_item_reopened_for_a_newcomer_during_a_reaggregation_stays_open(make_user):
    from labeling.services.quality.stalled import items_route_stalled

    project, items = make_project(slug="rreopen", n_items=2, min_votes=3, max_votes=7, target=0.95)
    a, b, c = make_user("a"), make_user("b"), make_user("c")
    for voter, label in ((a, 1), (b, 0), (c, 1)):
        cast(voter, items[0], label)  # split, and nobody else may answer it: review, no annotator
    assert _row(items[0]).review_reason == Item.ReviewReason.NO_ANNOTATOR

    snap = reaggregate_read(project_id=project.pk)
    join(project, [make_user("d")])  # a newcomer who has not seen it
    assert items_route_stalled(project=project).reopened == [items[0].pk]
    reaggregate_finish(snap=snap)
    row = _row(items[0])
    assert (row.status, row.review_reason) == (Item.Status.OPEN, "")
    _nothing_lost(items)


# --- the reviewer (labeling.services.quality.review)


def test_review_accept_reject_and_fix_during_a_reaggregation_stand(make_user):
    from labeling.services.quality.review import review_accept, review_fix, review_reject

    project, items = make_project(slug="rreview", n_items=4, min_votes=2, max_votes=7, target=0.9)
    users = [make_user(f"u{i}") for i in range(4)]
    for item in items[:3]:
        for user in users[:3]:
            cast(user, item, 1)
    cast(users[3], items[3], 1)
    assert all(_row(i).status == Item.Status.DONE for i in items[:3])
    reviewer = make_user("rev", role="reviewer")

    snap = reaggregate_read(project_id=project.pk)
    review_accept(item=_row(items[0]), reviewer=reviewer)
    review_reject(item=_row(items[1]), reviewer=reviewer)
    review_fix(item=_row(items[2]), reviewer=reviewer, label=0)  # the crowd said yes; the reviewer says no
    reviewed = {i.pk: (i.status, i.label, i.confidence, i.is_gold, i.gold_label) for i in map(_row, items[:3])}
    assert [v[0] for v in reviewed.values()] == [Item.Status.ACCEPTED, Item.Status.REJECTED, Item.Status.ACCEPTED]
    result = reaggregate_finish(snap=snap)
    assert {i.pk for i in items[:3]} <= set(result.changed_since_read)
    assert {i.pk: (i.status, i.label, i.confidence, i.is_gold, i.gold_label) for i in map(_row, items[:3])} == reviewed
    project_reaggregate(project_id=project.pk)
    assert {i.pk: (i.status, i.label, i.confidence, i.is_gold, i.gold_label) for i in map(_row, items[:3])} == reviewed
    for user in users[:3]:  # the next run scores the three voters on the fix's gold answer (all wrong)
        score = AnnotatorScore.objects.get(project=project, user=user)
        assert (score.gold_seen, score.gold_correct) == (1, 0), (user.username, score.gold_seen, score.gold_correct)
    assert ReviewAction.objects.filter(item__project=project).count() == 3
    _nothing_lost(items)
