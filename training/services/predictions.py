"""Model-in-the-loop, part 1: predict a finished run over a project's items and turn uncertainty into priority.

Snapshot / compute / write: the items are read in one query, predictions are computed outside any
transaction (batched by image, since a verify project asks several questions about one image), and each
batch is written in its own transaction after re-checking which items still exist. See README.md.
"""

from __future__ import annotations

import math
import shutil
import tempfile
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from annotate.exceptions import ServiceError
from labeling.models import Item, ModelOpinion, Project
from labeling.services.quality.engine import project_classes
from labeling.services.quality.opinions import Opinion, model_opinions_write
from training.ml.checkpoint import LAST_NAME
from training.ml.run import predict
from training.models import ModelPrediction, TrainingRun
from training.services.conf import run_dir
from training.services.image_cache import local_image_paths
from training.services.runs import run_predict_check

IMAGES_PER_BATCH = 512
UNFINISHED = (Item.Status.OPEN, Item.Status.REVIEW)


def model_categories(run: TrainingRun) -> list[int | None]:
    """Category id of each model class index (from the dataset version's class table)."""
    return [c.get("category_id") for c in sorted(run.version.classes, key=lambda c: int(c["index"]))]


def uncertainty(probs: np.ndarray) -> tuple[float, float]:
    """(entropy normalised to [0, 1] by log K, margin = top-1 minus top-2) of one distribution."""
    p = np.clip(np.asarray(probs, dtype=np.float64), 0.0, 1.0)
    k = p.size
    entropy = float(-(p[p > 0] * np.log(p[p > 0])).sum() / math.log(k)) if k > 1 else 0.0
    top = np.sort(p)[::-1]
    margin = float(top[0] - top[1]) if k > 1 else 1.0
    return round(min(max(entropy, 0.0), 1.0), 6), round(margin, 6)


def label_distribution(probs: np.ndarray, item: dict[str, Any], labels: list[int], cats: list[int | None],
                       verify: bool) -> np.ndarray | None:  # fmt: skip
    """The model's softmax restated as a distribution over the item's answers (None: the model has no say).

    verify: [P(no), P(yes)] with P(yes) = the probability of the item's category; classify: the probability of
    each candidate category (categories the model never saw get 0; -1/"none" gets 0), renormalised."""
    index = {cat: i for i, cat in enumerate(cats) if cat is not None}
    if verify:
        i = index.get(item["category_id"])
        return None if i is None else np.array([1.0 - probs[i], probs[i]], dtype=np.float64)
    out = np.array([probs[index[label]] if label in index else 0.0 for label in labels], dtype=np.float64)
    total = out.sum()
    return out / total if total > 0 else None


@contextmanager
def local_checkpoint(run: TrainingRun) -> Iterator[Path]:
    """The run's final checkpoint as a local file: the worker's copy if present, else from storage."""
    local = run_dir(run.pk) / "ckpt" / LAST_NAME
    if local.is_file():
        yield local
        return
    with tempfile.TemporaryDirectory(prefix="ckpt-") as tmp:
        path = Path(tmp) / "model.pt"
        with default_storage.open(run.checkpoint, "rb") as src, path.open("wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
        yield path


def predictable_items(project: Project) -> list[dict[str, Any]]:
    """Unfinished items (to prioritise and vote on) and checked ones (gold, accepted: to measure the model)."""
    qs = Item.objects.filter(project=project).filter(
        Q(status__in=UNFINISHED) | Q(is_gold=True) | Q(status=Item.Status.ACCEPTED)
    )
    return list(qs.order_by("id").values("id", "image_id", "image__file", "category_id"))


def predictions_create(*, run: TrainingRun, project: Project, batch_size: int = 128, device: str = "auto") -> int:
    """Store the run's opinion on the project's unfinished and checked items; unvoted open items get
    priority = normalised entropy, so the assignment engine serves uncertain items first. Returns the count."""
    run_predict_check(run=run, project=project)
    if not run.checkpoint:
        raise ServiceError(_("Run %(id)s has no checkpoint.") % {"id": run.pk}, code="run_not_ready")
    labels = project_classes(project)
    verify = project.task_type == Project.TaskType.VERIFY
    if project.task_type == Project.TaskType.BOXES:
        raise ServiceError(_("Predictions feed verify and classify projects only."), code="unsupported_task")
    cats = model_categories(run)
    items = predictable_items(project)
    by_image: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for item in items:
        by_image[item["image_id"]].append(item)
    image_ids = list(by_image)
    written = 0
    with local_checkpoint(run) as ckpt:
        for start in range(0, len(image_ids), IMAGES_PER_BATCH):
            chunk = image_ids[start : start + IMAGES_PER_BATCH]
            with local_image_paths({i: by_image[i][0]["image__file"] for i in chunk}) as paths:
                probs = predict(ckpt, [paths[i] for i in chunk], batch_size=batch_size, device=device)
            rows = []
            for image_id, p in zip(chunk, probs, strict=True):
                for item in by_image[image_id]:
                    dist = label_distribution(p, item, labels, cats, verify)
                    if dist is not None:
                        rows.append((item["id"], p, dist))
            written += _write(run, labels, rows)
    return written


def _write(run: TrainingRun, labels: list[int], rows: list[tuple[int, np.ndarray, np.ndarray]]) -> int:
    with transaction.atomic():
        items = {i.pk: i for i in Item.objects.select_for_update().filter(pk__in=[r[0] for r in rows]).order_by("id")}
        preds, changed, opinions = [], [], []
        for item_id, probs, dist in rows:
            item = items.get(item_id)
            if item is None:  # deleted meanwhile
                continue
            entropy, margin = uncertainty(dist)
            best = int(dist.argmax())
            label_probs = {str(label): round(float(v), 6) for label, v in zip(labels, dist, strict=True)}
            preds.append(ModelPrediction(
                run=run, item_id=item_id, probs=[round(float(v), 6) for v in probs], label_probs=label_probs,
                predicted_label=labels[best], confidence=round(float(dist[best]), 6), entropy=entropy, margin=margin,
            ))  # fmt: skip
            opinions.append(Opinion(item_id, ModelOpinion.Source.RUN, labels, dist.tolist(), run_id=run.pk,
                                    entropy=entropy, margin=margin))  # fmt: skip
            if item.status == Item.Status.OPEN and item.votes_count == 0 and not item.is_gold:
                item.priority = entropy  # 0..1; the quality engine owns priority once votes exist
            item.updated_at = timezone.now()  # bulk_update does not run auto_now
            item.version += 1  # a re-aggregation that read the row before this write must not write it back
            changed.append(item)
        ModelPrediction.objects.bulk_create(
            preds, update_conflicts=True, unique_fields=["run", "item"],
            update_fields=["probs", "label_probs", "predicted_label", "confidence", "entropy", "margin"],
        )  # fmt: skip
        model_opinions_write(opinions=opinions)  # a new run's opinion replaces the last run's (and its vote)
        Item.objects.bulk_update(changed, ["priority", "updated_at", "version"])
    return len(preds)


def predictions_refresh(*, run: TrainingRun, project: Project, vote: bool = True) -> dict[str, Any]:
    """Predict, then (optionally) let the model vote; a model that cannot be measured yet only predicts."""
    from training.services.voter import model_voter_apply

    out: dict[str, Any] = {"predicted": predictions_create(run=run, project=project), "voter": None, "voter_error": ""}
    if vote:
        try:
            out["voter"] = model_voter_apply(run=run, project=project).to_dict()
        except ServiceError as exc:
            out["voter_error"] = exc.message
    return out
