"""Zero-shot help for ImageNet categories: the packaged pretrained classifier as a bounded, gold-calibrated voter
from the first minute, before any crowd label or training run.

A category whose WordNet id is one of the 1,000 ImageNet-1k synsets gets the pretrained classifier's probability
of that synset (ImageNet itself had people verify search-engine candidates per synset; here the model
pre-screens them):
* verify items ("is this a <synset>?"): P(yes) = the 1000-way softmax's probability of the item's synset,
  Platt-scaled on the checked items (`_calibrate_verify`);
* classify projects: the softmax restricted to the project's synsets and renormalised -- only when *every*
  category is a synset (a category the classifier has never heard of would get probability 0); other projects
  use a fine-tuned run (`train --pretrained`, whose head starts from the same rows) once crowd labels exist.
The voter is measured on checked items (gold answers, reviewer-accepted labels) and summarised as one accuracy
(training.ml.calibration: symmetric confusion, vote bound = log-odds of the Wilson lower bound, capped at
log 99), then folded into open items exactly like a trained run's vote (voter.model_votes_fold): never on
gold items, stored as its ModelOpinion row for the online update, shown to reviewers, never to volunteers.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from django.db import transaction
from torch.utils.data import DataLoader

from annotate.exceptions import ServiceError
from labeling.models import Item, ModelOpinion, Project
from labeling.services.quality.engine import project_classes, proven_on_gold
from labeling.services.quality.opinions import Opinion, model_opinions_write
from labeling.services.quality.transitions import Caller, item_save
from training.ml.calibration import calibrate_voter, fit_platt, platt_leave_one_out, platt_probability
from training.ml.config import ARCHITECTURES, resolve_device
from training.ml.datasets import ImagePaths
from training.ml.engine import predict_proba
from training.ml.presets import decode_size_for, eval_transforms
from training.ml.pretrained import imagenet_index, pretrained_imagenet_model
from training.services.image_cache import local_image_paths
from training.services.predictions import label_distribution, predictable_items
from training.services.voter import MIN_CHECKED, checked_answer, model_votes_fold

ARCH = "efficientnet_lite0"
SOURCE = f"zero-shot {ARCH} (ImageNet-1k)"


@dataclass
class ZeroShotReport:
    categories: int  # categories that are ImageNet synsets
    predicted: int  # items given an opinion
    checked: int  # gold / accepted items it was measured on
    accuracy: float | None
    max_weight: float | None
    considered: int = 0
    updated: int = 0
    done: int = 0
    voter_error: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _synsets(project: Project) -> tuple[list[int], list[int]]:
    """(category ids, ImageNet indices) of the project's categories that are ImageNet-1k synsets."""
    cats = list(project.categories.order_by("id").values_list("id", "wnid"))
    index = imagenet_index([w or None for _, w in cats])
    pairs = [(c, i) for (c, _), i in zip(cats, index, strict=True) if i is not None]
    if not pairs:
        raise ServiceError("No category of this project is an ImageNet-1k synset (WordNet id).", code="no_imagenet")
    if project.task_type == Project.TaskType.CLASSIFY and len(pairs) != len(cats):
        raise ServiceError("Zero-shot votes on a classify project need every category to be an ImageNet-1k synset; "
                           "train a pretrained run on crowd labels instead.", code="not_all_imagenet")  # fmt: skip
    return [c for c, _ in pairs], [i for _, i in pairs]


def _imagenet_probs(files: dict[int, str], device: str, batch_size: int) -> dict[int, np.ndarray]:
    """image id -> 1000-way softmax of the packaged classifier."""
    spec = ARCHITECTURES[ARCH]
    dev = resolve_device(device)
    model = pretrained_imagenet_model(ARCH).to(dev)
    ids = list(files)
    out: dict[int, np.ndarray] = {}
    with local_image_paths(files) as paths, torch.inference_mode():
        dataset = ImagePaths([paths[i] for i in ids], eval_transforms(224), decode_size_for(224))
        probs = predict_proba(model, DataLoader(dataset, batch_size=batch_size), dev, norm=(spec.mean, spec.std))
    for image_id, p in zip(ids, probs, strict=True):
        out[image_id] = p
    return out


def zero_shot_apply(
    *, project: Project, device: str = "auto", batch_size: int = 64, min_checked: int = MIN_CHECKED
) -> ZeroShotReport:
    """Give every unfinished and checked item the pretrained classifier's opinion, measure it on the checked
    ones, and (with at least `min_checked` of them) fold its bounded vote into the open items."""
    if project.task_type == Project.TaskType.BOXES:
        raise ServiceError("The model votes on verify and classify projects only.", code="unsupported_task")
    cats, index = _synsets(project)
    verify = project.task_type == Project.TaskType.VERIFY
    labels = project_classes(project)
    items = [it for it in predictable_items(project) if not verify or it["category_id"] in cats]
    files = {it["image_id"]: it["image__file"] for it in items}
    p1000 = _imagenet_probs(files, device, batch_size) if files else {}
    dists: dict[int, np.ndarray] = {}
    for it in items:
        p = p1000[it["image_id"]][index].astype(np.float64)
        if not verify:
            p = p / max(p.sum(), 1e-12)
        dist = label_distribution(p, it, labels, cats, verify)
        if dist is not None:
            dists[it["id"]] = dist
    if verify:
        dists = _calibrate_verify(dists, min_checked)
    checked = _write_opinions(dists, labels)
    report = ZeroShotReport(len(cats), len(dists), len(checked[0]), None, None)
    if len(checked[0]) < min_checked:
        report.voter_error = (f"Only {len(checked[0])} gold or reviewed items have a zero-shot opinion; at least "
                              f"{min_checked} are needed to measure it before it may vote.")  # fmt: skip
        return report
    truth, pred = checked
    cal = calibrate_voter(np.asarray(truth), np.asarray(pred), len(labels))
    report.accuracy, report.max_weight = round(float(np.mean(np.asarray(truth) == np.asarray(pred))), 6), cal.max_weight
    open_ids = set(Item.objects.filter(pk__in=list(dists), status=Item.Status.OPEN, is_gold=False)
                   .values_list("pk", flat=True))  # fmt: skip
    preds = {i: {str(lb): float(v) for lb, v in zip(labels, dists[i], strict=True)} for i in open_ids}
    report.considered, report.updated, report.done = model_votes_fold(
        project=project, labels=labels, preds=preds, conf=cal.confusion, max_weight=cal.max_weight,
        source=ModelOpinion.Source.ZERO_SHOT, proven=proven_on_gold(cal.checked, cal.accuracy_low),
    )  # fmt: skip
    return report


def _calibrate_verify(dists: dict[int, np.ndarray], min_checked: int) -> dict[int, np.ndarray]:
    """Verify: the 1000-way probability of the item's synset is timid on fine-grained synsets (a springer spaniel
    shares its mass with the other spaniels) -- 0.5 is the wrong threshold. P(yes) = sigmoid(a log p + b), fitted
    on the checked items (Platt scaling); each checked item's own opinion comes from a fit without it (leave one
    out), so the accuracy that bounds the vote is measured honestly. Too few checked items of both answers, or a
    fit that says a higher synset probability means "no": the raw probability, as before."""
    known = dict(_known_labels(list(dists)))
    checked = [i for i in dists if known.get(i) in (0, 1)]
    truth = np.array([known[i] for i in checked], dtype=np.float64)
    if len(checked) < min_checked or truth.min() == truth.max():
        return dists
    score = {i: math.log(max(float(d[1]), 1e-12)) for i, d in dists.items()}
    a, b = fit_platt(np.array([score[i] for i in checked]), truth)
    if a <= 0:
        return dists
    ids = list(dists)
    p_yes = dict(zip(ids, platt_probability(np.array([score[i] for i in ids]), a, b).tolist(), strict=True))
    loo = platt_leave_one_out(np.array([score[i] for i in checked]), truth)
    p_yes.update(zip(checked, loo.tolist(), strict=True))
    return {i: np.array([1.0 - p, p], dtype=np.float64) for i, p in p_yes.items()}


def _known_labels(ids: list[int]) -> list[tuple[int, int]]:
    """(item id, known answer) of the checked items among `ids`: gold answers and reviewer-accepted labels."""
    rows = Item.objects.filter(pk__in=ids).values_list("pk", "is_gold", "gold_label", "status", "label")
    out = []
    for pk, is_gold, gold_label, status, label in rows:
        known = checked_answer(is_gold=is_gold, gold_label=gold_label, status=status, label=label)
        if known is not None:
            out.append((pk, int(known)))
    return out


def _write_opinions(dists: dict[int, np.ndarray], labels: list[int]) -> tuple[list[int], list[int]]:
    """Store the zero-shot ModelOpinion row (its distribution; no vote until measured) of every item; returns
    (truth, predicted) label indices of the checked items (gold answers, accepted labels). A trained run's
    opinion and the label-error finder's are other rows: this never touches them."""
    index = {lb: i for i, lb in enumerate(labels)}
    truth: list[int] = []
    pred: list[int] = []
    with transaction.atomic():
        items = list(Item.objects.select_for_update().filter(pk__in=list(dists)).order_by("id"))
        model_opinions_write(opinions=[
            Opinion(item.pk, ModelOpinion.Source.ZERO_SHOT, labels, dists[item.pk].tolist(), detail={"model": SOURCE})
            for item in items
        ])  # fmt: skip
        for item in items:
            best = int(dists[item.pk].argmax())
            item_save(caller=Caller.ZERO_SHOT, item=item, fields=[], before=item.status)  # the version
            known = checked_answer(
                is_gold=item.is_gold, gold_label=item.gold_label, status=item.status, label=item.label
            )
            if known in index:
                truth.append(index[known])
                pred.append(best)
    return truth, pred
