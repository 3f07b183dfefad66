"""Test data built the way production stores it: real Pillow-encoded bytes saved through the storage API
into Image rows, and projects with items (and optional gold). Colleagues may reuse these."""

from __future__ import annotations

import hashlib
import io
import random
from collections.abc import Sequence

from PIL import Image as PILImage

from labeling.models import Category, Image, ImageSource, Item, Project
from labeling.services.ingestion.storage import blob_store, original_name, thumbnail_name
from labeling.services.projects import project_create
from tests.helpers.images import jpeg_bytes


def _thumbnail(data: bytes, size: int = 256) -> bytes:
    with PILImage.open(io.BytesIO(data)) as im:
        im = im.convert("RGB")
        im.thumbnail((size, size))
        buf = io.BytesIO()
        im.save(buf, format="JPEG", quality=80)
        return buf.getvalue()


def make_image_row(seed: int = 0, width: int = 64, height: int = 48, *, canonical: Image | None = None) -> Image:
    """An Image row for a real JPEG of the given size (one row per distinct content; reused if present)."""
    data = jpeg_bytes(width, height, seed=seed)
    sha = hashlib.sha256(data).hexdigest()
    existing = Image.objects.filter(sha256=sha).first()
    if existing is not None:
        return existing
    name = blob_store(name=original_name(sha, "jpg"), data=data)
    thumb = blob_store(name=thumbnail_name(sha), data=_thumbnail(data))
    with PILImage.open(io.BytesIO(data)) as im:
        assert im.size == (width, height)
    return Image.objects.create(
        sha256=sha,
        file=name,
        thumbnail=thumb,
        width=width,
        height=height,
        format="JPEG",
        mode="RGB",
        size_bytes=len(data),
        canonical=canonical,
    )


def make_project_with_items(
    *,
    slug: str = "proj",
    task_type: str = Project.TaskType.VERIFY,
    n_items: int = 10,
    box_mode: str = Project.BoxMode.SINGLE,
    categories: Sequence[str] = ("cat", "dog"),
    needed_votes: int = 3,
    max_votes: int | None = None,
    gold: int = 0,
    gold_rate: float = 0.0,
    qualification_size: int = 0,
    visibility: str = Project.Visibility.PUBLIC,
    owner=None,
    width: int = 64,
    height: int = 48,
    seed: int = 0,
) -> tuple[Project, list[Item]]:
    """A project with `n_items` regular items plus `gold` gold items, one image each.

    Redundancy is fixed at `needed_votes` unless `max_votes` is given (the quality engine may then ask for more).

    verify: items cycle over the categories (candidate category = item category, the truth for simulations);
    classify: the candidate category cycles too; boxes: gold answers are the centre half of the image.
    """
    project = project_create(
        slug=slug,
        task_type=task_type,
        box_mode=box_mode,
        min_votes=needed_votes,
        max_votes=max_votes or needed_votes,
        gold_rate=gold_rate,
        visibility=visibility,
        owner=owner,
        categories=[{"name": name, "definition": f"A picture of a {name}."} for name in categories],
    )
    if qualification_size:
        project.qualification_size = qualification_size
        project.save(update_fields=["qualification_size"])
    cats = list(Category.objects.filter(project=project).order_by("id"))
    items = []
    # gold interleaved with regular work (ids from one sequence reveal nothing)
    gold_positions = set(random.Random(seed).sample(range(n_items + gold), gold))
    for i in range(n_items + gold):
        image = make_image_row(seed=seed * 100_000 + i, width=width, height=height)
        category = cats[i % len(cats)] if cats else None
        ImageSource.objects.create(
            project=project, image=image, source_uri=f"{category.name if category else 'x'}/img{i}.jpg",
            candidate_category=category,
        )  # fmt: skip
        is_gold = i in gold_positions
        gold_label = gold_answer = None
        if is_gold:
            if task_type == Project.TaskType.VERIFY:
                gold_label = 1
            elif task_type == Project.TaskType.CLASSIFY:
                gold_label = category.id if category else -1
            else:
                gold_answer = {"boxes": [[width / 4, height / 4, width / 2, height / 2]]}
        items.append(
            Item(
                project=project,
                image=image,
                category=category if task_type == Project.TaskType.VERIFY else None,
                needed_votes=needed_votes,
                is_gold=is_gold,
                gold_label=gold_label,
                gold_answer=gold_answer,
            )
        )
    Item.objects.bulk_create(items, batch_size=2000)
    return project, list(Item.objects.filter(project=project).order_by("id"))


def stored_vote(item) -> dict[str, float] | None:
    """The item's latest stored model vote as {label value: likelihood} (quality.opinions reads it), or None."""
    from labeling.services.quality.opinions import stored_vote as read

    vote = read(item)
    return None if vote is None else {str(c): v for c, v in zip(vote.class_ids, vote.likelihoods, strict=True)}
