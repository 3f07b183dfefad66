"""A pretrained run's transfer choice from its dataset version (the rule: training/ml/transfer_policy.py): the
version's training images per class and the median shorter side of its images decide probe-only or fine-tune."""

from __future__ import annotations

import statistics
from typing import Any

from labeling.models import DatasetVersion, DatasetVersionItem
from training.ml.config import ARCHITECTURES
from training.ml.transfer_policy import TransferChoice, transfer_choose

SIDE_SAMPLE = 2000  # images read for the median side: a version of a million rows needs no more


def version_figures(version: DatasetVersion) -> tuple[float, int | None]:
    """(training images per class, median shorter side in px) of the version."""
    per_class = (version.stats or {}).get("per_class") or {}
    in_version = [c["name"] for c in version.classes if c.get("in_version", True)]
    counts = [per_class.get(name, {}).get("train", 0) for name in in_version]
    per = sum(counts) / len(counts) if counts else 0.0
    sides = [
        min(w, h)
        for w, h in DatasetVersionItem.objects.filter(version=version, split="train")
        .order_by("image_sha256")
        .values_list("image__width", "image__height")[:SIDE_SAMPLE]
    ]
    return per, (int(statistics.median(sides)) if sides else None)


def transfer_apply(*, version: DatasetVersion, architecture: str, config: dict[str, Any],
                   requested: str) -> TransferChoice | None:  # fmt: skip
    """For a pretrained run: set the config's input size and fine-tune epochs by the rule; returns the choice
    (None for a run trained from scratch, which the rule does not concern)."""
    if not config.get("pretrained"):
        return None
    per_class, side = version_figures(version)
    native = int(ARCHITECTURES[architecture].defaults.get("image_size", config["image_size"]))
    choice = transfer_choose(requested=requested, native_size=native, requested_epochs=int(config["epochs"]),
                             images_per_class=per_class, median_side=side)  # fmt: skip
    config["image_size"], config["epochs"] = choice.image_size, choice.fine_tune_epochs
    return choice
