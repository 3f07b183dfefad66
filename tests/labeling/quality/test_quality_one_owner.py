"""One owner for an item's decision and status (issue 22, findings 14, 16-20, 22; issue 26 build item 2).

The race tests run a re-aggregation's read, then another writer's change, then the rest of the re-aggregation
(reaggregate_read / reaggregate_finish), on whichever database the suite runs on."""

from __future__ import annotations

import numpy as np
import pytest

from labeling.models import AnnotatorScore, Item, ModelOpinion
from labeling.services.quality import gold_set, item_evaluate, project_reaggregate
from labeling.services.quality.calibration import CalibrationData
from labeling.services.quality.engine import StoredVote, model_vote, project_classes
from labeling.services.quality.opinions import Opinion, model_opinions_write
from labeling.services.quality.reaggregate import reaggregate_finish, reaggregate_read
from tests.labeling.quality.qfactories import cast, make_project

pytestmark = pytest.mark.django_db


def _row(item: Item) -> Item:
    return Item.objects.get(pk=item.pk)


# --- finding 16: the model voter's class space and a class missing from a stored vote


def test_a_model_vote_without_none_cannot_finish_an_item_the_crowd_calls_none(make_user):
    project, (item, spare) = make_project(slug="f16", task_type="classify", categories=("a", "b"), n_items=2,
                                          min_votes=3, max_votes=9)  # fmt: skip
    a, b = project_classes(project)
    users = [make_user(f"u{i}") for i in range(6)]
    cast(users[5], spare, a)  # a sixth known annotator: the item is not routed to review for want of voters
    for user, label in zip(users[:5], (a, a, -1, -1, -1), strict=True):
        cast(user, item, label)
    before = _row(item)
    assert before.label == -1 and before.status == Item.Status.OPEN
    # a proven model's vote stored over [a, b] only (as the voter stored it before "none" was in its space)
    stored = Opinion(item.pk, ModelOpinion.Source.RUN, [a, b], [0.97, 0.03], vote=[0.97, 0.03], proven=True)
    model_opinions_write(opinions=[stored])
    after = item_evaluate(item=_row(item), project=project)
    assert after.label == -1 and after.status == Item.Status.OPEN, (after.label, after.status, after.confidence)
    assert model_vote(StoredVote((a, b), (0.97, 0.03), True), [a, b, -1], is_gold=False) is None
    from training.services.voter import voter_classes

    assert voter_classes(project) == [a, b, -1]  # the voter votes in the space that has "none"


# --- finding 17: re-aggregation keeps review routing


def test_reaggregation_keeps_label_error_and_stalled_routing(make_user):
    project, items = make_project(slug="f17", n_items=3, min_votes=2, max_votes=7)
    users = [make_user(f"u{i}") for i in range(4)]
    for item in items:
        for user in users:
            cast(user, item, 1)
    assert all(_row(i).status == Item.Status.DONE for i in items)
    flagged, stalled = _row(items[0]), _row(items[1])
    flagged.status, flagged.review_reason = Item.Status.REVIEW, Item.ReviewReason.MODEL_DISAGREES_CV
    flagged.save(update_fields=["status", "review_reason"])  # (as the label-error finder leaves an item)
    stalled.status, stalled.review_reason = Item.Status.REVIEW, Item.ReviewReason.STALLED
    stalled.save(update_fields=["status", "review_reason"])  # (as the sweep leaves an item)
    project_reaggregate(project_id=project.pk)
    assert (_row(items[0]).status, _row(items[0]).review_reason) == ("review", "model_disagrees_cv")
    assert (_row(items[1]).status, _row(items[1]).review_reason) == ("review", "stalled")
    assert _row(items[2]).status == Item.Status.DONE


def test_the_transition_table_refuses_what_a_caller_may_not_do():
    from labeling.services.quality.transitions import Caller, TransitionRefused, items_write, settle

    item = Item(pk=1, status=Item.Status.REVIEW)
    with pytest.raises(TransitionRefused):
        items_write(caller=Caller.VOTER, items=[item], fields=["status"], before={1: Item.Status.OPEN})
    assert settle(Caller.REAGGREGATE, "accepted", "", "done", "") == ("accepted", "")
    assert settle(Caller.REAGGREGATE, "review", "curator", "done", "") == ("review", "curator")
    assert settle(Caller.REAGGREGATE, "review", "max_votes", "done", "") == ("done", "")
    assert settle(Caller.VOTER, "open", "", "review", "max_votes") == ("open", "")
    assert settle(Caller.ONLINE, "review", "no_annotator", "done", "") == ("done", "")


# --- finding 18: counters are not written from the snapshot


def test_a_gold_answer_between_read_and_write_is_not_lost(make_user):
    project, items = make_project(slug="f18", n_items=4, min_votes=2, max_votes=7)
    gold_set(item=items[3], label=1)
    user, other = make_user("u"), make_user("o")
    cast(other, items[0], 1)
    for item in items[:2]:
        cast(user, item, 1)
    snap = reaggregate_read(project_id=project.pk)
    cast(user, items[3], 1)  # a gold answer lands while the re-aggregation computes
    reaggregate_finish(snap=snap)
    score = AnnotatorScore.objects.get(project=project, user=user)
    assert (score.volume, score.gold_seen, score.gold_correct) == (3, 1, 1)


# --- finding 19: freshness by version; gold during a re-aggregation; one run per project


def test_an_item_made_gold_during_a_reaggregation_keeps_its_gold_label(make_user):
    project, items = make_project(slug="f19", n_items=2, min_votes=2, max_votes=7)
    users = [make_user(f"u{i}") for i in range(4)]
    for user in users[:3]:
        cast(user, items[0], 1)
    snap = reaggregate_read(project_id=project.pk)
    gold_set(item=_row(items[0]), label=0)  # same votes_count, same status: only the version tells
    result = reaggregate_finish(snap=snap)
    row = _row(items[0])
    assert row.is_gold and row.label == 0 and row.confidence == 1.0
    assert items[0].pk in result.changed_since_read or result.items_written == 0


def test_removing_gold_redecides_the_item_from_its_votes(make_user):
    _project, items = make_project(slug="f19b", n_items=2, min_votes=3, max_votes=7)
    users = [make_user(f"u{i}") for i in range(4)]
    cast(users[3], items[1], 1)
    gold_set(item=items[0], label=1)
    cast(users[0], items[0], 0)
    gold_set(item=_row(items[0]), label=None)
    row = _row(items[0])
    assert not row.is_gold and row.confidence != 1.0 and row.status == Item.Status.OPEN and row.label == 0


def test_every_writer_bumps_the_version(make_user):
    _project, items = make_project(slug="ver", n_items=2, min_votes=2, max_votes=7)
    v0 = _row(items[0]).version
    cast(make_user("a"), items[0], 1)
    v1 = _row(items[0]).version
    gold_set(item=_row(items[0]), label=1)
    v2 = _row(items[0]).version
    assert v0 < v1 < v2


# --- finding 20: one target lookup


def test_a_category_with_few_checked_items_falls_back_to_the_projects_calibrated_target():
    from labeling.services.quality.engine import calibrated_targets, target_lookup

    calibration = {
        "*": CalibrationData(n_checked=40, target=0.999),
        7: CalibrationData(n_checked=5, target=0.9),  # too few to stand on its own
        8: CalibrationData(n_checked=35, target=0.97),
    }
    targets = calibrated_targets(calibration)
    assert target_lookup(targets, 7, 0.95) == 0.999  # not the raw 0.95 (re-aggregation and the voter used it)
    assert target_lookup(targets, 8, 0.95) == 0.97
    assert target_lookup({}, 8, 0.95) == 0.95


# --- findings 4 and 22: retroactive blocking


def _spammer_setup(make_user, slug: str):
    """Six items answered 1 by two honest volunteers and 0 by a spammer, then made gold 1 (so the online gold rule
    never saw those answers and only a re-aggregation can block the spammer); six more items to vote on."""
    project, items = make_project(slug=slug, n_items=12, min_votes=3, max_votes=7, target=0.9)
    honest, spammer = [make_user(f"{slug}h{i}") for i in range(2)], make_user(f"{slug}s")
    for item in items[:6]:
        for user in honest:
            cast(user, item, 1)
        cast(spammer, item, 0)
    for item in items[:6]:
        gold_set(item=_row(item), label=1)
    return project, items, honest, spammer


def test_items_voted_by_a_spammer_during_a_reaggregation_lose_those_votes(make_user):
    project, items, honest, spammer = _spammer_setup(make_user, "f4")
    snap = reaggregate_read(project_id=project.pk)
    for item in items[6:9]:  # the spammer votes between the read and the write
        cast(spammer, item, 0)
        cast(honest[0], item, 0)
    result = reaggregate_finish(snap=snap)
    assert spammer.pk in result.newly_blocked
    for item in items[6:9]:
        row = _row(item)
        assert row.votes_count == 1, row.votes_count  # only the honest vote counts
        assert row.status == Item.Status.OPEN


def test_a_gold_answer_that_blocks_mid_batch_uncounts_the_earlier_answers_of_the_batch(
    make_user, settings, django_capture_on_commit_callbacks
):
    import uuid
    from datetime import timedelta

    from django.utils import timezone

    from labeling.models import Lease
    from labeling.services.annotations import annotations_submit_batch

    settings.ANNOTATE_QUALITY_REAGGREGATE_EVERY = 0
    project, items = make_project(slug="f22", n_items=12, min_votes=3, max_votes=7, target=0.95)
    for item in items[:5]:
        gold_set(item=item, label=1)
    spammer, honest = make_user("s"), make_user("h")
    cast(honest, items[5], 1)
    for item in items[:4]:
        cast(spammer, item, 0)  # four wrong gold answers: one more blocks
    cast(spammer, items[5], 0)  # an earlier vote outside the batch
    Lease.objects.create(item=items[9], user=spammer, expires_at=timezone.now() + timedelta(minutes=5))
    batch = [items[6], items[7], items[4]]  # two regular answers, then the fifth wrong gold answer
    for item in batch:
        Lease.objects.update_or_create(item=item, user=spammer,
                                       defaults={"expires_at": timezone.now() + timedelta(minutes=5)})  # fmt: skip
    answers = [{"item_id": i.pk, "submission_id": uuid.uuid4(), "answer": {"label": 0}} for i in batch]
    with django_capture_on_commit_callbacks(execute=True):
        results = annotations_submit_batch(user=spammer, project=project, answers=answers)
    assert all(r["ok"] for r in results), results
    assert AnnotatorScore.objects.get(project=project, user=spammer).status == AnnotatorScore.Status.BLOCKED
    assert [_row(i).votes_count for i in batch[:2]] == [0, 0]  # stored, but not counted
    assert _row(items[5]).votes_count == 1  # the earlier vote dropped out too, with re-aggregation off
    assert not Lease.objects.filter(user=spammer).exists()  # leases released


# --- finding 14: no item waits for the sweep


def test_an_item_whose_last_eligible_annotator_answered_goes_to_review_at_once(make_user):
    _project, items = make_project(slug="f14", n_items=2, min_votes=3, max_votes=7, target=0.95)
    a, b, c = make_user("a"), make_user("b"), make_user("c")
    for voter, label in ((a, 1), (b, 0), (c, 1)):
        cast(voter, items[0], label)
    row = _row(items[0])
    assert (row.status, row.review_reason) == (Item.Status.REVIEW, Item.ReviewReason.NO_ANNOTATOR)
    cast(a, items[1], 1)
    assert _row(items[1]).status == Item.Status.OPEN  # b and c may still answer it


# --- issue 26 build item 2: only changed items are written


def test_reaggregation_writes_only_items_whose_state_changed(make_user):
    project, items = make_project(slug="i26", n_items=20, min_votes=2, max_votes=7)
    users = [make_user(f"u{i}") for i in range(4)]
    rng = np.random.default_rng(3)
    for item in items[:8]:
        for user in users[:3]:
            cast(user, item, int(rng.random() < 0.8))
    untouched = {i.pk: i.version for i in Item.objects.filter(pk__in=[i.pk for i in items[8:]])}
    first = project_reaggregate(project_id=project.pk)
    assert first.items_written <= 8  # the 12 items without votes are not rewritten
    assert {i.pk: i.version for i in Item.objects.filter(pk__in=list(untouched))} == untouched
    second = project_reaggregate(project_id=project.pk)
    assert second.items_written == 0
