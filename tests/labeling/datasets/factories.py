"""Test data for dataset versions and exports, built through the ORM with real images (Pillow + storage)."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db.models import F
from PIL import Image as PILImage

from labeling.models import Annotation, Category, Image, ImageSource, Item, Project
from labeling.services.projects import project_create
from tests.helpers.images import encode, make_image


def store_image(data: bytes, *, fmt: str, width: int, height: int, canonical: Image | None = None) -> Image:
    sha = hashlib.sha256(data).hexdigest()
    existing = Image.objects.filter(sha256=sha).first()
    if existing:
        return existing
    ext = {"JPEG": "jpg", "PNG": "png"}[fmt]
    name = default_storage.save(f"images/{sha[:2]}/{sha}.{ext}", ContentFile(data))
    return Image.objects.create(sha256=sha, file=name, width=width, height=height, format=fmt, mode="RGB",
                                size_bytes=len(data), canonical=canonical)  # fmt: skip


def image(seed: int, *, width: int = 40, height: int = 30, fmt: str = "JPEG", canonical: Image | None = None) -> Image:
    data = encode(make_image(width, height, seed=seed), fmt)
    with PILImage.open(io.BytesIO(data)) as im:  # what ingestion records: the decoded size
        width, height = im.size
    return store_image(data, fmt=fmt, width=width, height=height, canonical=canonical)


def project(owner: Any, *, slug: str = "birds", task_type: str = "classify", classes: Sequence[str] = ("cat", "dog"),
            definitions: dict[str, str] | None = None) -> Project:  # fmt: skip
    definitions = definitions or {}
    return project_create(slug=slug, task_type=task_type, owner=owner,
                          categories=[{"name": c, "definition": definitions.get(c, "")} for c in classes])  # fmt: skip


def cat(project: Project, name: str) -> Category:
    return Category.objects.get(project=project, name=name)


def source(project: Project, img: Image, *, category: Category | None = None, uri: str | None = None,
           license: str = "CC-BY-4.0", attribution: str = "someone") -> ImageSource:  # fmt: skip
    return ImageSource.objects.create(project=project, image=img, candidate_category=category,
                                      source_uri=uri or f"https://example.org/{img.id}.jpg", license=license,
                                      attribution=attribution)  # fmt: skip


def item(project: Project, img: Image, *, category: Category | None = None, label: int | None = None,
         posterior: list[float] | None = None, confidence: float | None = None, status: str = "done",
         answer: dict | None = None, is_gold: bool = False, votes: Iterable[tuple[Any, int | None]] = ()
         ) -> Item:  # fmt: skip
    it = Item.objects.create(project=project, image=img, category=category, label=label, posterior=posterior,
                             confidence=confidence, status=status, answer=answer, is_gold=is_gold,
                             gold_label=label if is_gold else None)  # fmt: skip
    for user, vote_label in votes:
        vote(it, user, vote_label)
    return it


def vote(it: Item, user: Any, label: int | None, answer: dict | None = None) -> Annotation:
    ann = Annotation.objects.create(item=it, user=user, label=label, answer=answer or {}, time_spent_ms=1500)
    Item.objects.filter(pk=it.pk).update(votes_count=F("votes_count") + 1)
    return ann


def classify_images(project: Project, voters: Sequence[Any], per_class: dict[str, int], *, seed0: int = 0,
                    posterior: float = 0.9) -> list[Item]:  # fmt: skip
    """`per_class[name]` classify items per class, each with one vote per voter for that class."""
    items, seed = [], seed0
    names = list(per_class)
    cats = {n: cat(project, n) for n in names}
    for name, n in per_class.items():
        for _ in range(n):
            seed += 1
            img = image(seed)
            source(project, img)
            post = [posterior if c == name else (1 - posterior) / max(len(names) - 1, 1) for c in names]
            items.append(item(project, img, label=cats[name].id, posterior=post, confidence=posterior,
                              votes=[(u, cats[name].id) for u in voters]))  # fmt: skip
    return items


def noise_jpeg(rng: np.random.Generator, side: int) -> bytes:
    pixels = rng.integers(0, 256, size=(side, side, 3), dtype=np.uint8)
    return encode(PILImage.fromarray(pixels), "JPEG", quality=95)


def jpeg_variant(base: bytes, i: int) -> bytes:
    """A distinct, still valid JPEG: `base` with a COM segment carrying `i` after the SOI marker."""
    comment = f"annotate-test-{i}".encode()
    return base[:2] + b"\xff\xfe" + (len(comment) + 2).to_bytes(2, "big") + comment + base[2:]


def bulk_classify(project: Project, n: int, *, side: int = 48, seed: int = 0) -> int:
    """n distinct JPEGs (a few noise images made unique with a COM segment) with done classify items, in bulk.
    Files go through default_storage. Returns the bytes stored."""
    rng = np.random.default_rng(seed)
    bases = [noise_jpeg(rng, side) for _ in range(8)]
    cats = list(Category.objects.filter(project=project).order_by("id").values_list("id", flat=True))
    total, images = 0, []
    for i in range(n):
        data = jpeg_variant(bases[i % len(bases)], seed * 10_000_000 + i)
        sha = hashlib.sha256(data).hexdigest()
        name = default_storage.save(f"images/{sha[:2]}/{sha}.jpg", ContentFile(data))
        images.append(Image(sha256=sha, file=name, width=side, height=side, format="JPEG", mode="RGB",
                            size_bytes=len(data)))  # fmt: skip
        total += len(data)
    images = Image.objects.bulk_create(images, batch_size=2000)
    ImageSource.objects.bulk_create(
        [ImageSource(project=project, image=im, source_uri=f"https://example.org/{im.sha256}.jpg",
                     license="CC0-1.0") for im in images], batch_size=2000)  # fmt: skip
    labels = rng.integers(0, len(cats), size=n)
    Item.objects.bulk_create(
        [Item(project=project, image=im, label=cats[int(k)], confidence=0.95, status="done", votes_count=3)
         for im, k in zip(images, labels, strict=True)], batch_size=2000)  # fmt: skip
    return total
