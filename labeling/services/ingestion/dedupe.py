"""Exact (SHA-256, global) and near-duplicate (pHash within a Hamming radius, per project) detection.

The near-duplicate index is rebuilt from the database once per batch run: the pHashes of the
project's canonical images (one indexed query), loaded into an in-memory multi-index-hashing table
(labeling/algorithms/phash_index.py). New canonical images of the batch are added as they are stored.
"""

from __future__ import annotations

from annotate.conf import options
from labeling.algorithms.phash_index import PHashIndex
from labeling.models import Image, ImageSource, Project


def near_dup_index_build(*, project: Project) -> PHashIndex:
    index = PHashIndex()
    image_ids = ImageSource.objects.filter(project=project).values("image_id")
    rows = (
        Image.objects.filter(id__in=image_ids, canonical__isnull=True, phash__isnull=False)
        .values_list("phash", "id")
        .order_by("id")
    )
    index.extend(rows.iterator(chunk_size=10_000))
    return index


def near_dup_find(*, index: PHashIndex, phash: int) -> tuple[object, int] | None:
    """(canonical, Hamming distance) of the nearest indexed image within the radius, or None.

    The canonical is an image id for images loaded from the database, or the `Image` itself for one
    stored earlier in the same run (its id is known once its chunk is inserted).
    """
    hit = index.nearest(phash, options().NEAR_DUP_RADIUS)
    if hit is None:
        return None
    distance, canonical = hit
    return canonical, distance
