"""Permission-scoped reads of training runs: another researcher's run is a 404, never a 403.

The scoping is labeling's (`labeling.selectors.projects`: `scoped_to_researcher`, `one_or_404`), and the
dataset versions a run trains on are read through `labeling.selectors.datasets` itself, re-exported here:
one implementation, so a fix to it protects both apps (issue 17, finding 9).
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.utils.translation import gettext as _

from labeling.models import Category, Item, ModelOpinion, Project
from labeling.selectors.datasets import version_for_researcher, versions_for_researcher
from labeling.selectors.projects import one_or_404, projects_for_reviewer, scoped_to_researcher
from training.models import ModelPrediction, TrainingEpoch, TrainingRun

__all__ = [
    "item_model_opinion",
    "run_epochs",
    "run_for_researcher",
    "runs_for_researcher",
    "version_for_researcher",
    "versions_for_researcher",
]


def runs_for_researcher(user: Any) -> QuerySet[TrainingRun]:
    return scoped_to_researcher(
        TrainingRun.objects.select_related("version", "version__project", "created_by"),
        user,
        project_path="version__project",
    )


def run_for_researcher(user: Any, pk: int) -> TrainingRun:
    return one_or_404(runs_for_researcher(user), pk, what="training run")


def run_queued_message(run: TrainingRun) -> str:
    """What is true once a run is queued: every run goes to the training worker (queue `gpu`); the device is
    the one requested, and "auto" is decided by that worker (its CUDA devices, else its CPU)."""
    device = run.device_requested or run.config.get("device", "auto")
    text = {
        "cpu": _("Run %(id)s queued for the training worker: it trains on the worker's CPU (slow for large models)."),
        "cuda": _(
            "Run %(id)s queued for the training worker: it trains on the worker's GPU (and fails if that worker has "
            "no CUDA)."
        ),
    }.get(device) or _(
        "Run %(id)s queued for the training worker: it trains on the worker's GPU when it has one, else on its CPU "
        "(the run page says which)."
    )
    return text % {"id": run.pk}


def run_epochs(run: TrainingRun) -> list[dict[str, Any]]:
    return list(
        TrainingEpoch.objects.filter(run=run)
        .order_by("epoch")
        .values("epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "images_per_sec", "seconds", "attempt")
    )


def _run_vote(item: Item, run_id: int) -> dict[str, float] | None:
    """The bounded vote of that run stored for the item ({label value: likelihood}), or None."""
    row = ModelOpinion.objects.filter(item_id=item.pk, source=ModelOpinion.Source.RUN, run_id=run_id)
    found = row.filter(vote__isnull=False).values_list("class_ids", "vote").first()
    return None if found is None else {str(c): v for c, v in zip(found[0], found[1], strict=False)}


def item_model_opinion(item: Item, user: Any = None) -> dict[str, Any] | None:
    """The latest finished run's opinion on an item, with answer names, for reviewers (never volunteers).

    With `user`, only a reviewer/owner of the item's project gets an answer."""
    if user is not None and not projects_for_reviewer(user).filter(pk=item.project_id).exists():
        return None
    pred = (
        ModelPrediction.objects.filter(item=item, run__status=TrainingRun.Status.SUCCEEDED)
        .select_related("run")
        .order_by("-created_at", "-id")
        .first()
    )
    if pred is None:
        return None
    project = Project.objects.only("task_type").get(pk=item.project_id)
    if project.task_type == Project.TaskType.VERIFY:
        names = {"0": "no", "1": "yes"}
    else:
        categories = Category.objects.filter(project_id=item.project_id).values_list("pk", "name")
        names = {str(pk): name for pk, name in categories}
        names["-1"] = "none"
    answers = sorted(pred.label_probs.items(), key=lambda kv: -kv[1])[:3]
    return {
        "run": pred.run_id,
        "architecture": pred.run.architecture,
        "predicted": names.get(str(pred.predicted_label), str(pred.predicted_label)),
        "confidence": pred.confidence,
        "entropy": pred.entropy,
        "margin": pred.margin,
        "top": [{"label": names.get(k, k), "p": v, "percent": round(100 * v)} for k, v in answers],
        "vote": _run_vote(item, pred.run_id),
        "voter_accuracy": pred.run.voter_accuracy,
    }


def similar_images(
    project: Project, image_id: int, k: int = 12, arch: str = "efficientnet_lite0"
) -> list[dict[str, Any]]:
    """The `k` images of the project most similar to `image_id` by cosine of their stored embeddings (exact
    search, numpy only: see training/services/embeddings.py for the scale notes); [] without embeddings."""
    import numpy as np

    from training.models import ImageEmbedding

    rows = list(ImageEmbedding.objects.filter(project=project, arch=arch).values_list("image_id", "dim", "vector"))
    where = {image_id: i for i, (image_id, _, _) in enumerate(rows)}
    if image_id not in where:
        return []
    dim = rows[0][1]
    matrix = np.frombuffer(b"".join(bytes(v) for _, _, v in rows), dtype="<f2").reshape(len(rows), dim)
    scores = matrix.astype(np.float32) @ matrix[where[image_id]].astype(np.float32)
    scores[where[image_id]] = -np.inf
    top = np.argsort(-scores, kind="stable")[: max(0, min(k, len(rows) - 1))]
    return [{"image": int(rows[i][0]), "score": round(float(scores[i]), 4)} for i in top]


def similar_with_items(project: Project, hits: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """`similar_images` hits with an item of the project on each image, its curation page and the thumbnail
    (one query), for the item page's "similar images" and the API."""
    from django.urls import reverse

    rows = Item.objects.filter(project=project, image_id__in=[h["image"] for h in hits]).order_by("id")
    first: dict[int, tuple[int, str]] = {}
    for item_id, image_id, sha256 in rows.values_list("id", "image_id", "image__sha256"):
        first.setdefault(image_id, (item_id, sha256))
    out = []
    for hit in hits:
        if hit["image"] not in first:
            continue
        item_id, sha256 = first[hit["image"]]
        out.append({**hit, "item": item_id,
                    "item_url": reverse("curation_item", kwargs={"slug": project.slug, "item_id": item_id}),
                    "thumbnail_url": reverse("media_thumbnail", kwargs={"sha256": sha256})})  # fmt: skip
    return out


def run_mistake_gallery(run: TrainingRun, per_pair: int = 8) -> list[dict[str, Any]]:
    """The final split's misclassified images grouped by (true, predicted) class pair, largest group first:
    [{"true", "predicted", "count", "images": [{"image", "sha256", "confidence"}, ...]}]."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for m in (run.final_metrics or {}).get("mistakes") or []:
        groups.setdefault((m["true"], m["predicted"]), []).append(m)
    ordered = sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0]))
    return [
        {"true": t, "predicted": p, "count": len(ms),
         "images": [{"image": m["image"], "sha256": m["sha256"], "confidence": m["confidence"]} for m in ms[:per_pair]]}
        for (t, p), ms in ordered
    ]  # fmt: skip
