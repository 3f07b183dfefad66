"""Model-in-the-loop, part 2: the trained model as one more, bounded voter in the item posterior.

1. Its confusion matrix (rows = true answer, columns = its top answer, add-one smoothing) is measured on
   *checked* items only -- gold answers and reviewer-accepted labels -- leaving out images the run trained on.
2. Its vote for an item is `posterior_with_extra_voter(uniform, model distribution, confusion, max_weight)`
   (the quality engine's function): the model's likelihood, tempered so that it moves the log-odds between
   any two answers by at most `max_weight` nats -- by default log 9, one 90 %-accurate yes/no voter.
3. Open, non-gold items that have human votes get posterior = human posterior (the quality engine's
   annotator models) folded with that vote, and the quality engine's `decide` re-decides them, so a
   confident, measured-accurate model lets an item finish with fewer human votes. Humans still provide
   at least `min_votes`; gold and reviewed items are never touched; review items stay with reviewers.
4. A model proven on the checked items by the rule that proves a person (`proven_on_gold`: >= 20 of them,
   Wilson 95 % lower bound of its accuracy >= 0.8) counts as a voter in `decide`: with one human vote it may
   finish an item, and in a project with `min_votes = 0` it may finish items alone (SageMaker Ground Truth's
   automated labelling, ImageNet's pre-screen). Audit items still collect their human votes: they keep
   measuring whether stopping early, the model's stops included, is honest.
The vote is also stored as the run's ModelOpinion row, so the online update can keep folding it in.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from django.db import transaction
from django.utils import timezone

from annotate.exceptions import ServiceError
from labeling.algorithms.posterior import posterior_with_extra_voter
from labeling.models import DatasetVersionItem, Item, ModelOpinion, Project
from labeling.services.quality.engine import project_classes, proven_on_gold
from labeling.services.quality.online import item_evaluate, votes_counted
from labeling.services.quality.opinions import Opinion, model_opinions_write
from labeling.services.quality.transitions import Caller, item_save
from training.ml.calibration import wilson_low
from training.models import ModelPrediction, TrainingRun

DEFAULT_MAX_WEIGHT = math.log(9.0)
MAX_WEIGHT_CAP = math.log(99.0)
MIN_CHECKED = 10


@dataclass
class VoterReport:
    checked: int
    accuracy: float
    considered: int
    updated: int
    done: int
    max_weight: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def model_confusion(truth: list[int], predicted: list[int], k: int) -> np.ndarray:
    """(K, K) counts + 1 (Laplace), rows = true class index, columns = predicted class index."""
    conf = np.ones((k, k), dtype=np.float64)
    np.add.at(conf, (np.asarray(truth, dtype=np.int64), np.asarray(predicted, dtype=np.int64)), 1.0)
    return conf


def checked_answer(*, is_gold: bool, gold_label: int | None, status: str, label: int | None) -> int | None:
    """The known answer of a checked item (its gold answer, or the label a reviewer accepted), else None: what
    every model voter is measured on."""
    return gold_label if is_gold else (label if status == Item.Status.ACCEPTED else None)


def _checked(run: TrainingRun, project: Project, index: dict[int, int]) -> tuple[list[int], list[int]]:
    seen = set(DatasetVersionItem.objects.filter(version=run.version, split="train").values_list("image_id", flat=True))
    rows = ModelPrediction.objects.filter(run=run, item__project=project).values_list(
        "predicted_label", "item__is_gold", "item__gold_label", "item__status", "item__label", "item__image_id"
    )
    truth, pred = [], []
    for predicted, is_gold, gold_label, status, label, image_id in rows:
        true = checked_answer(is_gold=is_gold, gold_label=gold_label, status=status, label=label)
        if true is None or image_id in seen or true not in index or predicted not in index:
            continue
        truth.append(index[true])
        pred.append(index[predicted])
    return truth, pred


def model_voter_apply(
    *, run: TrainingRun, project: Project, max_weight: float = DEFAULT_MAX_WEIGHT, min_checked: int = MIN_CHECKED
) -> VoterReport:
    """Measure the model on checked items, then fold its bounded vote into open items' posteriors."""
    if project.task_type == Project.TaskType.BOXES:
        raise ServiceError("The model votes on verify and classify projects only.", code="unsupported_task")
    max_weight = float(min(max(max_weight, 0.0), MAX_WEIGHT_CAP))
    labels = voter_classes(project)
    index = {label: i for i, label in enumerate(labels)}
    truth, pred = _checked(run, project, index)
    if len(truth) < min_checked:
        raise ServiceError(
            f"Only {len(truth)} gold or reviewed items (not used for training) have a prediction from run {run.pk}; "
            f"at least {min_checked} are needed to measure the model before it may vote.",
            code="not_enough_checked",
        )
    conf = model_confusion(truth, pred, len(labels))
    accuracy = float(np.mean(np.asarray(truth) == np.asarray(pred)))
    TrainingRun.objects.filter(pk=run.pk).update(
        voter_labels=labels, voter_confusion=conf.tolist(), voter_checked=len(truth), voter_accuracy=accuracy,
        voter_max_weight=max_weight, updated_at=timezone.now(),
    )  # fmt: skip
    proven = proven_on_gold(len(truth), wilson_low(int(np.trace(conf - 1.0)), len(truth)))
    considered, updated, done = _apply(run, project, labels, conf, max_weight, proven)
    return VoterReport(len(truth), accuracy, considered, updated, done, max_weight)


def voter_classes(project: Project) -> list[int]:
    """The class space a model votes in: the project's, with "none of these" (-1) for classify -- a vote that
    leaves a class out cannot be folded into a posterior that has it (finding 16)."""
    return project_classes(project, [-1])


def _apply(
    run: TrainingRun, project: Project, labels: list[int], conf: np.ndarray, max_weight: float, proven: bool
) -> tuple[int, int, int]:
    # Not on items whose image the run trained on: its opinion there repeats their human votes (finding 16).
    trained = DatasetVersionItem.objects.filter(version=run.version, split="train").values("image_id")
    preds = dict(
        ModelPrediction.objects.filter(
            run=run, item__project=project, item__status=Item.Status.OPEN, item__is_gold=False
        )
        .exclude(item__image_id__in=trained)
        .values_list("item_id", "label_probs")
    )
    return model_votes_fold(project=project, labels=labels, preds=preds, conf=conf, max_weight=max_weight,
                            source=ModelOpinion.Source.RUN, run_id=run.pk, proven=proven)  # fmt: skip


def model_votes_fold(
    *, project: Project, labels: list[int], preds: dict[int, dict[str, float]], conf: np.ndarray, max_weight: float,
    source: str, run_id: int | None = None, proven: bool = False,
) -> tuple[int, int, int]:  # fmt: skip
    """Store each open, non-gold item's bounded model vote (its `source`'s ModelOpinion row: the vote, and
    `proven` when the model passed `proven_on_gold` on checked items) and re-decide the items that have human
    votes, or none when the project lets a proven model finish items alone (min_votes = 0). `preds`: item id ->
    {label value: probability}. Returns (considered, updated, done). Shared by trained runs and the zero-shot
    pretrained classifier."""
    uniform = np.full(len(labels), 1.0 / len(labels))
    updated = done = 0
    with transaction.atomic():
        items = list(Item.objects.select_for_update().filter(pk__in=list(preds), status=Item.Status.OPEN,
                                                             is_gold=False).order_by("id"))  # fmt: skip
        counted = votes_counted(project=project, item_ids=[item.pk for item in items])
        caller = Caller.ZERO_SHOT if source == ModelOpinion.Source.ZERO_SHOT else Caller.VOTER
        opinions = []
        for item in items:
            probs = np.array([preds[item.pk].get(str(label), 0.0) for label in labels], dtype=np.float64)
            vote = posterior_with_extra_voter(uniform, probs, conf, max_weight)
            opinions.append(Opinion(item.pk, source, labels, probs.tolist(), run_id=run_id, vote=vote.tolist(),
                                    proven=proven, max_weight=round(max_weight, 6)))  # fmt: skip
            item.mv_classes, item.mv_vote, item.mv_proven = labels, opinions[-1].vote, proven  # (stored_vote reads)
        model_opinions_write(opinions=opinions, keep=("entropy", "margin", "detail"))
        for item in items:
            before = item.status
            humans = sum(1 for *_rest, blocked in counted[item.pk] if not blocked)
            if humans or (proven and project.min_votes == 0):  # the one decider, as a vote's would decide it
                item_evaluate(item=item, project=project, votes=counted[item.pk], caller=caller)
                updated += 1
                done += item.status == Item.Status.DONE and before != Item.Status.DONE
            else:
                item_save(caller=caller, item=item, fields=[], before=before)  # the version: the vote changed
    return len(preds), updated, done
