"""Label-error detection on a dataset version: K-fold out-of-sample probabilities from pretrained features,
ranked by confident learning (training.ml.label_errors), suspects sent to the review queue.

Reads a snapshot (features and the version's rows), computes outside any transaction, then flags in one
transaction, re-reading the items under lock: an item sent to review gets review_reason
"model_disagrees_cv" and the model's suggestion as a label_error ModelOpinion row (reviewers see model opinions,
volunteers never do). Gold items are never touched; an item already in review keeps its reason.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from django.db import transaction

from annotate.exceptions import ServiceError
from labeling.models import DatasetVersion, DatasetVersionItem, Item, ModelOpinion
from labeling.services.quality.opinions import Opinion, model_opinions_write
from labeling.services.quality.transitions import Caller, item_save
from training.ml.label_errors import DEFAULT_THRESHOLD, rank_label_errors
from training.ml.pretrained import imagenet_head_rows
from training.ml.transfer import cv_probe_config, out_of_fold_proba
from training.services.data import version_class_names
from training.services.features import ARCH, version_features

FLAGGABLE = (Item.Status.DONE, Item.Status.ACCEPTED, Item.Status.OPEN)


@dataclass
class LabelErrorItem:
    item: int | None
    sha256: str
    label: str
    suggested: str
    score: float


@dataclass
class LabelErrorReport:
    version: int
    checked: int
    suspected: int
    items: list[LabelErrorItem] = field(default_factory=list)
    flagged: int = 0  # items sent to the review queue by this call

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def label_errors_find(
    *, version: DatasetVersion, folds: int = 5, threshold: float = DEFAULT_THRESHOLD, seed: int = 0,
    flag: bool = True, device: str = "auto",
) -> LabelErrorReport:  # fmt: skip
    """Rank the version's likely label errors (most likely first) and, with `flag`, send them to review."""
    if folds < 2:
        raise ServiceError("folds must be at least 2.", code="invalid_folds")
    feats = version_features(version=version, device=device)
    # A class with fewer images than folds cannot have one held out in every fold: its images are left unchecked
    # (a small version, the demo's first ones) instead of failing the whole search; two classes are the minimum.
    counts = np.bincount(feats.labels, minlength=feats.num_classes)
    checkable = counts >= folds
    if int(checkable.sum()) < 2:
        raise ServiceError(f"At least two classes need {folds} images each for {folds}-fold cross-validation.",
                           code="too_few_images")  # fmt: skip
    keep = checkable[feats.labels]
    x, labels, image_ids = feats.x[keep], feats.labels[keep], feats.image_ids[keep]
    init = imagenet_head_rows(ARCH, feats.wnids)
    oof = out_of_fold_proba(x, labels, feats.num_classes, folds, cv_probe_config(init is not None, seed), init=init)
    suspects = rank_label_errors(labels, oof, threshold)
    names = version_class_names(version)
    suspect_images = [int(image_ids[s.index]) for s in suspects]
    sha = dict(
        DatasetVersionItem.objects.filter(version=version, image_id__in=suspect_images).values_list(
            "image_id", "image_sha256"
        )
    )
    items = _items_by_image(version, suspect_images)
    report = LabelErrorReport(version=version.pk, checked=len(labels), suspected=len(suspects))
    for s, image_id in zip(suspects, suspect_images, strict=True):
        ids = items.get(image_id, [])
        report.items.append(LabelErrorItem(ids[0] if ids else None, sha.get(image_id, ""), names[s.label],
                                           names[s.suggested], s.score))  # fmt: skip
    if flag and suspects:
        report.flagged = _flag(version, suspects, suspect_images, items, folds)
    return report


def _items_by_image(version: DatasetVersion, image_ids: list[int]) -> dict[int, list[int]]:
    out: dict[int, list[int]] = {}
    rows = Item.objects.filter(project_id=version.project_id, image_id__in=image_ids, is_gold=False).order_by("id")
    for item_id, image_id in rows.values_list("id", "image_id"):
        out.setdefault(image_id, []).append(item_id)
    return out


def _flag(version: DatasetVersion, suspects: list[Any], image_ids: list[int], items: dict[int, list[int]],
          folds: int) -> int:  # fmt: skip
    """Send the suspects' (non-gold) items to review with reason model_disagrees_cv; returns how many."""
    cats = {int(c["index"]): c.get("category_id") for c in version.classes}
    note = {
        image_id: {"suggested": cats.get(s.suggested), "given": cats.get(s.label), "score": s.score, "folds": folds,
                   "version": version.pk}
        for s, image_id in zip(suspects, image_ids, strict=True)
    }  # fmt: skip
    by_item = {item_id: image_id for image_id, ids in items.items() for item_id in ids}
    flagged = 0
    with transaction.atomic():
        locked = list(Item.objects.select_for_update().filter(pk__in=list(by_item), is_gold=False,
                                                              status__in=FLAGGABLE).order_by("id"))  # fmt: skip
        opinions = []
        for item in locked:
            n = note[by_item[item.pk]]
            known = n["suggested"] is not None  # the suggestion as the opinion's top class, with its score
            opinions.append(Opinion(item.pk, ModelOpinion.Source.LABEL_ERROR, [n["suggested"]] if known else [],
                                    [n["score"]] if known else [], detail=n))  # fmt: skip
        model_opinions_write(opinions=opinions)
        for item in locked:
            before = item.status
            item.status, item.review_reason = Item.Status.REVIEW, Item.ReviewReason.MODEL_DISAGREES_CV
            item_save(caller=Caller.LABEL_ERRORS, item=item, fields=["status", "review_reason"], before=before)
            flagged += 1
    return flagged
