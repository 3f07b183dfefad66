"""Permission-scoped reads of training runs: another researcher's run is a 404, never a 403.

The scoping is labeling's (`labeling.selectors.projects`: `scoped_to_researcher`, `one_or_404`), and the
dataset versions a run trains on are read through `labeling.selectors.datasets` itself, re-exported here:
one implementation, so a fix to it protects both apps (issue 17, finding 9).
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from labeling.models import Category, Item, Project
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


def run_epochs(run: TrainingRun) -> list[dict[str, Any]]:
    return list(
        TrainingEpoch.objects.filter(run=run)
        .order_by("epoch")
        .values("epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "images_per_sec", "seconds", "attempt")
    )


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
        "vote": (item.model_probs or {}).get("vote"),
        "voter_accuracy": pred.run.voter_accuracy,
    }
