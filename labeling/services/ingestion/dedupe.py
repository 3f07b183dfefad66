"""Exact (SHA-256, global) and near-duplicate (pHash within a Hamming radius, per project) detection.

The near-duplicate index is rebuilt from the database once per batch run: the pHashes of the
project's canonical images (one indexed query), loaded into an in-memory multi-index-hashing table
(labeling/algorithms/phash_index.py). New canonical images of the batch are added as they are stored.

A pHash hit is confirmed by a colour check (`labeling.algorithms.colour_gate`): on small, simple pictures the
64 grayscale DCT bits say little (two different triangles, or two flat images of equal brightness, share
a hash), while a resized or re-encoded copy keeps its 16x16 colour layout. The check reads the candidate's
stored thumbnail (content-addressed, so cached by name); it runs only on a pHash hit.
"""

from __future__ import annotations

import functools
import io
import logging

import numpy as np
from django.core.files.storage import default_storage
from PIL import Image as PILImage

from annotate.conf import options
from labeling.algorithms.colour_gate import SIGNATURE_SIDE, colour_difference
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


logger = logging.getLogger(__name__)


def near_dup_find(*, index: PHashIndex, phash: int, thumbnail: bytes | None = None) -> tuple[object, int] | None:
    """(canonical, Hamming distance) of the nearest indexed image within the radius whose colours agree with
    `thumbnail` (the new image's), or None.

    The canonical is an image id for images loaded from the database, or the `Image` itself for one
    stored earlier in the same run (its id is known once its chunk is inserted).
    """
    hits = index.query(phash, options().NEAR_DUP_RADIUS)
    if not hits or thumbnail is None:
        return (hits[0][1], hits[0][0]) if hits else None
    mine = colour_signature(thumbnail)
    for distance, canonical in hits:
        theirs = _canonical_signature(canonical)
        if mine is None or theirs is None or colour_difference(mine, theirs) <= options().NEAR_DUP_MAX_COLOUR_DIFF:
            return canonical, distance
    return None


def colour_signature(thumbnail: bytes) -> np.ndarray | None:
    """The thumbnail as a 16x16 RGB array (None when it cannot be decoded: the pHash alone decides)."""
    try:
        with PILImage.open(io.BytesIO(thumbnail)) as im:
            small = im.convert("RGB").resize((SIGNATURE_SIDE, SIGNATURE_SIDE), PILImage.Resampling.BOX)
            return np.asarray(small, dtype=np.float32)
    except (OSError, ValueError):
        return None


def _canonical_signature(canonical: object) -> np.ndarray | None:
    name = getattr(canonical, "thumbnail", None)
    if name is None:
        name = _thumbnail_of(int(canonical))  # type: ignore[call-overload]
    return _stored_signature(str(getattr(name, "name", name) or ""))


@functools.lru_cache(maxsize=4096)
def _thumbnail_of(image_id: int) -> str:
    return Image.objects.filter(pk=image_id).values_list("thumbnail", flat=True).first() or ""


@functools.lru_cache(maxsize=4096)  # thumbnails are content-addressed: a name never changes its bytes
def _stored_signature(name: str) -> np.ndarray | None:
    if not name:
        return None
    try:
        with default_storage.open(name, "rb") as fh:
            return colour_signature(fh.read())
    except OSError:
        logger.warning("near-duplicate check: thumbnail %s unreadable; the pHash alone decides", name)
        return None
