"""Embeddings: one feature vector per image of a project from the packaged pretrained backbone, stored compactly
(L2-normalised float16: 2.5 KB per image for efficientnet_lite0's 1280 dimensions) for "similar images".

Exact cosine search over every vector of a project (selectors.similar_images) is a (N, D) x (D,) product:
milliseconds up to ~100k images and about a second at ~1M (2.5 GB of float16 in memory). Beyond that, an
approximate index (pgvector's HNSW in PostgreSQL, or FAISS IVF-PQ beside the worker) is what we would switch to.
"""

from __future__ import annotations

import numpy as np
import torch
from django.db import transaction
from torch.utils.data import DataLoader

from labeling.models import Item, Project
from training.ml.config import ARCHITECTURES, resolve_device
from training.ml.datasets import ImagePaths
from training.ml.presets import decode_size_for, eval_transforms
from training.ml.pretrained import pretrained_imagenet_model
from training.ml.transfer import extract_features
from training.models import ImageEmbedding
from training.services.image_cache import local_image_paths

ARCH = "efficientnet_lite0"
CHUNK = 512


def embeddings_compute(*, project: Project, device: str = "auto", batch_size: int = 64, refresh: bool = False) -> int:
    """Store an embedding for every image of the project's items that has none yet (all with `refresh`)."""
    files = dict(Item.objects.filter(project=project).values_list("image_id", "image__file").distinct())
    if not refresh:
        done = set(ImageEmbedding.objects.filter(project=project, arch=ARCH).values_list("image_id", flat=True))
        files = {i: f for i, f in files.items() if i not in done}
    if not files:
        return 0
    spec = ARCHITECTURES[ARCH]
    dev = resolve_device(device)
    model = pretrained_imagenet_model(ARCH).to(dev)
    ids = sorted(files)
    written = 0
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        with local_image_paths({i: files[i] for i in chunk}) as paths, torch.inference_mode():
            dataset = ImagePaths([paths[i] for i in chunk], eval_transforms(224), decode_size_for(224))
            feats = extract_features(model, DataLoader(dataset, batch_size=batch_size), dev, norm=(spec.mean, spec.std))
        x = feats.x / np.maximum(np.linalg.norm(feats.x, axis=1, keepdims=True), 1e-12)
        rows = [
            ImageEmbedding(
                project=project, image_id=image_id, arch=ARCH, dim=x.shape[1], vector=x[j].astype("<f2").tobytes()
            )
            for j, image_id in enumerate(chunk)
        ]
        with transaction.atomic():
            ImageEmbedding.objects.bulk_create(rows, update_conflicts=True, unique_fields=["project", "image", "arch"],
                                               update_fields=["dim", "vector"])  # fmt: skip
        written += len(rows)
    return written
