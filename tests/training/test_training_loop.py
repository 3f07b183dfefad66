"""The CLI contract, then the model back in the loop: predictions -> priority, and the model as a bounded voter."""

from __future__ import annotations

import io
import json
import math

import numpy as np
import pytest
from django.core.management import CommandError, call_command

from labeling.models import Annotation, Item, ModelOpinion
from labeling.services.assignment import next_items
from tests.helpers.factories import stored_vote
from tests.training.factories import shapes_version
from training.models import ModelPrediction, TrainingRun

pytestmark = [pytest.mark.slow, pytest.mark.django_db]


@pytest.fixture
def checkpoints(tmp_path, settings):
    settings.ANNOTATE = {**settings.ANNOTATE, "CHECKPOINT_DIR": str(tmp_path / "ckpt")}


def _call(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_train_cli_then_predictions_drive_priority_and_a_bounded_vote(make_user, checkpoints):
    owner = make_user("rita", role="researcher")
    s = shapes_version(owner=owner, n_per_class=150, n_extra=30, n_gold=60)
    s.project.gold_rate = 0.0
    s.project.save(update_fields=["gold_rate"])

    # --- CLI contract: `train --foreground --json`, last line is the summary. 20 epochs train the small CNN to
    # convergence (voter accuracy 0.95-1.0 here with the default and the AVX2 kernels, different thread counts);
    # 8 epochs stopped mid-descent, where the CPU's kernels decided whether gold accuracy cleared 0.8.
    out, _ = _call("train", "--version", str(s.version.pk), "--arch", "small_cnn", "--epochs", "20",
                   "--batch-size", "32", "--workers", "0", "--foreground", "--json")  # fmt: skip
    summary = json.loads(out.strip().splitlines()[-1])
    assert set(summary) == {"run", "status", "test_accuracy", "macro_f1"}
    run = TrainingRun.objects.get(pk=summary["run"])
    assert summary["status"] == "succeeded" == run.status
    assert summary["test_accuracy"] == run.final_metrics["accuracy"] and summary["macro_f1"] == run.macro_f1
    assert run.config["epochs"] == 20 and run.config["batch_size"] == 32
    with pytest.raises(CommandError, match="No dataset version"):
        _call("train", "--version", "999999", "--foreground")

    # --- two agreeing human votes on 20 of the open items (the true answer): 0.916 < 0.95 without the model
    voters = [make_user("val", role="volunteer"), make_user("vera", role="volunteer")]
    voted = s.extra[:20]
    for item in voted:
        for voter in voters:
            Annotation.objects.create(item=item, user=voter, label=item.true_label)
        Item.objects.filter(pk=item.pk).update(votes_count=2, needed_votes=3)
    gold_before = list(Item.objects.filter(is_gold=True).values("id", "status", "label", "posterior", "priority"))

    out, err = _call("predict", "--run", str(run.pk), "--project", s.project.slug, "--json")
    result = json.loads(out.strip().splitlines()[-1])
    assert result["predicted"] == len(s.extra) + len(s.gold), err

    # --- priority: unvoted open items are ordered by the model's uncertainty, and served in that order
    unvoted = list(Item.objects.filter(pk__in=[i.pk for i in s.extra[20:]]))
    for item in unvoted:
        pred = ModelPrediction.objects.get(run=run, item=item)
        p = np.array(list(pred.label_probs.values()))
        expected = -(p[p > 0] * np.log(p[p > 0])).sum() / math.log(3)
        assert item.priority == pytest.approx(pred.entropy, abs=1e-9)
        assert pred.entropy == pytest.approx(expected, abs=1e-4)
        opinion = ModelOpinion.objects.get(item=item, source=ModelOpinion.Source.RUN)
        assert opinion.run_id == run.pk and opinion.entropy == pytest.approx(pred.entropy, abs=1e-9)
        shown = dict(zip(opinion.class_ids, opinion.probabilities, strict=True))  # the voter's space has "none"
        assert set(shown) - {-1} == {c.pk for c in s.categories} and shown.get(-1, 0.0) == 0.0
    most_uncertain = max(unvoted, key=lambda i: (i.priority, -i.pk))
    # (the voted items are left out: one the model disagrees with stays open with two votes, and classify serves
    # started items first -- how often depends on the trained model, so leaving them in made this flaky)
    served = next_items(user=make_user("newbie"), project=s.project, n=1, exclude_ids=[i.pk for i in voted])
    assert [i.pk for i in served] == [most_uncertain.pk]

    # --- the model as a voter: measured on gold only, bounded, never touching gold
    report = result["voter"]
    assert report is not None, result["voter_error"]
    run.refresh_from_db()
    assert report["checked"] == 60 == run.voter_checked and run.voter_accuracy >= 0.8
    assert report["max_weight"] == pytest.approx(math.log(9))
    gold_after = list(Item.objects.filter(is_gold=True).values("id", "status", "label", "posterior", "priority"))
    assert gold_after == gold_before
    labels = run.voter_labels
    conf = np.array(run.voter_confusion) / np.array(run.voter_confusion).sum(axis=1, keepdims=True)
    done = 0
    for item in Item.objects.filter(pk__in=[i.pk for i in voted]):
        vote = np.array(list(stored_vote(item).values()))
        assert math.log(vote.max() / vote.min()) <= math.log(9) + 1e-4  # bounded weight (stored rounded to 1e-6)
        pred = ModelPrediction.objects.get(run=run, item=item)
        human = Annotation.objects.filter(item=item).first().label
        # by hand: human posterior (two 0.7-accurate votes, prior annotator model) x the tempered model likelihood
        probs = np.array([pred.label_probs.get(str(label), 0.0) for label in labels])  # "none" (-1): never predicted
        loglik = np.log(probs @ conf.T)
        loglik *= min(1.0, math.log(9) / (loglik.max() - loglik.min()))
        post = np.where(np.array(labels) == human, 0.7**2, 0.15**2) * np.exp(loglik)
        # the model votes in the class space with "none" (-1, finding 16); the humans' posterior has no such class
        # here (nobody answered it), so the vote is read on the humans' classes only (engine.model_vote)
        post[np.array(labels) == -1] = 0.0
        post /= post.sum()
        assert item.confidence == pytest.approx(post.max(), abs=1e-5)
        assert (item.status == Item.Status.DONE) == (post.max() >= 0.95)
        if pred.predicted_label != human:  # a disagreeing model can neither finish the item nor take it over
            assert item.status == Item.Status.OPEN and item.label == human
        done += item.status == Item.Status.DONE
    # without the model not one of them is done (0.916 < 0.95); with it, those the model agrees with are
    assert done >= 10 and report["done"] == done, (done, run.voter_accuracy)
    for item in Item.objects.filter(pk__in=[i.pk for i in s.extra[20:]]):
        assert item.status == Item.Status.OPEN  # no human vote yet: the model alone never finishes an item


def test_predict_refuses_unfinished_runs(make_user, checkpoints):
    owner = make_user("rita", role="researcher")
    s = shapes_version(owner=owner, n_per_class=3)
    run = TrainingRun.objects.create(version=s.version, architecture="small_cnn", config={})
    with pytest.raises(CommandError, match="no trained model"):
        _call("predict", "--run", str(run.pk), "--project", s.project.slug)
