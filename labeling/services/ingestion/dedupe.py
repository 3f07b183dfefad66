"""Exact (SHA-256, per project) and near-duplicate (pHash within a Hamming radius, per project) detection.

The near-duplicate index is rebuilt from the database once per batch run: the pHashes of the
project's canonical images (one indexed query), loaded into an in-memory multi-index-hashing table
(labeling/algorithms/phash_index.py). New canonical images of the batch are added as they are stored.

A pHash hit is confirmed by a colour check (`labeling.algorithms.colour_gate`): on small, simple pictures the
64 grayscale DCT bits say little (two different triangles, or two flat images of equal brightness, share
a hash), while a resized or re-encoded copy keeps its 16x16 colour layout. The check reads the candidate's
stored thumbnail (content-addressed, so cached by name); it runs only on a pHash hit.

`near_dup_recluster` runs when a dataset version is created: it closes the gap two concurrent batches leave.
"""

from __future__ import annotations

import functools
import io
import logging

import numpy as np
from django.core.files.storage import default_storage
from django.db.models import Q
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


def near_dup_recluster(*, project: Project) -> int:
    """Merge the project's clusters that ingest kept apart (two batches running at once each miss the
    other's images): every canonical image of the project, best copy first (pixels, then bytes, then the
    lower id), is looked up among the better canonicals already seen; a hit within the radius whose colours
    agree makes it, and its near-duplicates, members of that cluster. Returns how many clusters were merged.

    Only this project's own rows are touched (older global rows, which other projects may share, are not).
    Items of a merged canonical stay; a version takes one image per cluster, preferring the canonical."""
    rows = list(
        Image.objects.filter(project=project, canonical__isnull=True, phash__isnull=False).values_list(
            "id", "phash", "width", "height", "size_bytes", "thumbnail"
        )
    )
    rows.sort(key=lambda r: (-(r[2] * r[3]), -r[4], r[0]))
    index = PHashIndex()
    merged: dict[int, int] = {}
    radius = options().NEAR_DUP_RADIUS
    for image_id, phash, _w, _h, _size, thumbnail in rows:
        target = None
        for _distance, (canonical, their_thumbnail) in index.query(phash, radius):
            mine, theirs = _stored_signature(thumbnail or ""), _stored_signature(their_thumbnail or "")
            if mine is None or theirs is None or colour_difference(mine, theirs) <= options().NEAR_DUP_MAX_COLOUR_DIFF:
                target = canonical
                break
        if target is None:
            index.add(phash, (image_id, thumbnail))
        else:
            merged[image_id] = target
    for image_id, target in merged.items():
        Image.objects.filter(Q(pk=image_id) | Q(canonical_id=image_id), project=project).update(canonical_id=target)
    if merged:
        logger.info("project %s: %d near-duplicate clusters merged", project.pk, len(merged))
    return len(merged)


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


def _thumbnail_of(image_id: int) -> str:  # not cached: an id is not content (SQLite reuses a rolled-back id)
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
