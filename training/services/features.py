"""Pretrained backbone features of every labelled image of a dataset version, cached on the worker's disk.

A dataset version is an immutable snapshot, so its features are computed once (materialise, one eval-transform
pass through the packaged efficientnet_lite0) and kept beside the materialised tree as
`<checkpoint root>/version-<id>/features-<arch>.npz`. Label-error detection and later embeddings read them.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

from labeling.models import DatasetVersion
from training.ml.config import ARCHITECTURES, resolve_device
from training.ml.datasets import SPLITS, ImagePaths, discover_classes, list_samples
from training.ml.presets import decode_size_for, eval_transforms
from training.ml.pretrained import pretrained_imagenet_model
from training.ml.transfer import extract_features
from training.services.conf import checkpoint_root
from training.services.data import version_class_wnids, version_materialise

log = logging.getLogger(__name__)
ARCH = "efficientnet_lite0"
IMAGE_SIZE = 224


@dataclass
class VersionFeatures:
    image_ids: np.ndarray  # (N,) int64
    labels: np.ndarray  # (N,) int64 class index
    splits: np.ndarray  # (N,) str
    x: np.ndarray  # (N, D) float32
    wnids: list[str | None]  # per class index
    num_classes: int


def version_features(*, version: DatasetVersion, device: str = "auto", batch_size: int = 64) -> VersionFeatures:
    """Features of the version's labelled images (all splits), from the cache when present."""
    root = checkpoint_root() / f"version-{int(version.pk)}"
    data = version_materialise(version=version, root=root / "data")
    classes = discover_classes(data)
    samples = [(path, target, split) for split in SPLITS for path, target in list_samples(data, split, classes)]
    image_ids = np.array([int(Path(p).stem) for p, _, _ in samples], dtype=np.int64)
    wnids = [w or None for w in version_class_wnids(version)]
    cache = root / f"features-{ARCH}.npz"
    if cache.is_file():
        z = np.load(cache)
        if np.array_equal(z["image_ids"], image_ids):
            return VersionFeatures(image_ids, z["labels"], z["splits"], z["x"], wnids, len(classes))
    spec = ARCHITECTURES[ARCH]
    dev = resolve_device(device)
    model = pretrained_imagenet_model(ARCH).to(dev)
    dataset = ImagePaths([p for p, _, _ in samples], eval_transforms(IMAGE_SIZE), decode_size_for(IMAGE_SIZE))
    loader = DataLoader(dataset, batch_size=batch_size, num_workers=0, pin_memory=dev.type == "cuda")
    with torch.inference_mode():
        feats = extract_features(model, loader, dev, norm=(spec.mean, spec.std))
    log.info("version %s: %s features for %d images in %.1fs", version.pk, ARCH, len(samples), feats.seconds)
    labels = np.array([t for _, t, _ in samples], dtype=np.int64)
    splits = np.array([s for _, _, s in samples])
    tmp = cache.with_name(f".{cache.stem}.{os.getpid()}.npz")
    np.savez(tmp, image_ids=image_ids, labels=labels, splits=splits, x=feats.x.astype(np.float32))
    os.replace(tmp, cache)
    return VersionFeatures(image_ids, labels, splits, feats.x, wnids, len(classes))
