"""Build a labelled shapes project + dataset version through the ORM (DatasetVersion rows as the datasets
capability writes them), with real PNG files in storage, for the Django-side training tests."""

from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from labeling.models import Category, DatasetVersion, DatasetVersionItem, Image, Item, Project
from labeling.services.ingestion.storage import blob_store, original_name
from tests.helpers.shapes import SHAPE_CLASSES, iter_shape_images

IMAGENETTE = Path(__file__).resolve().parents[3] / "shared" / "data" / "images" / "imagenette_224"


@dataclass
class ShapesSetup:
    project: Project
    version: DatasetVersion
    categories: list[Category]
    extra: list[Item] = field(default_factory=list)  # open items, not in the version
    gold: list[Item] = field(default_factory=list)  # gold items, not in the version


def _image(data: bytes, size: int) -> Image:
    sha = hashlib.sha256(data).hexdigest()
    name = blob_store(name=original_name(sha, "png"), data=data)
    image, _ = Image.objects.get_or_create(
        sha256=sha,
        defaults={"file": name, "width": size, "height": size, "format": "PNG", "mode": "RGB", "size_bytes": len(data)},
    )
    return image


def shapes_version(
    *, owner, slug: str = "shapes", n_per_class: int = 100, size: int = 32, seed: int = 0,
    n_extra: int = 0, n_gold: int = 0, task_type: str = Project.TaskType.CLASSIFY,
) -> ShapesSetup:  # fmt: skip
    """A classify project over circle/square/triangle, a version (70/15/15 per class), optional extra open
    items and gold items drawn from a different seed (so none of them was trained on)."""
    project = Project.objects.create(
        name=slug.title(), slug=slug, task_type=task_type, min_votes=1, max_votes=5, audit_rate=0.0
    )  # no audit items: the tests decide which items the model helps finish
    project.owners.add(owner)
    cats = [Category.objects.create(project=project, name=name) for name in SHAPE_CLASSES]
    by_name = {c.name: c for c in cats}
    classes = [{"index": i, "category_id": c.pk, "name": c.name} for i, c in enumerate(cats)]
    version = DatasetVersion.objects.create(
        project=project, number=1, classes=classes, items_count=3 * n_per_class, content_hash="0" * 64, seed=seed,
        split_train=0.7, split_val=0.15, split_test=0.15,
    )  # fmt: skip
    seen = dict.fromkeys(SHAPE_CLASSES, 0)
    rows = []
    for shape in iter_shape_images(n_per_class, size=size, seed=seed):
        k = seen[shape.label]
        seen[shape.label] += 1
        split = "train" if k < 0.7 * n_per_class else ("val" if k < 0.85 * n_per_class else "test")
        image = _image(shape.data, size)
        cat = by_name[shape.label]
        Item.objects.create(project=project, image=image, status=Item.Status.DONE, label=cat.pk, votes_count=3)
        rows.append(DatasetVersionItem(
            version=version, image=image, image_sha256=image.sha256, cluster_id=image.pk, category=cat,
            class_index=SHAPE_CLASSES.index(shape.label), label_name=shape.label, split=split,
        ))  # fmt: skip
    DatasetVersionItem.objects.bulk_create(rows)
    setup = ShapesSetup(project, version, cats)
    n_more = n_extra + n_gold
    if n_more:
        more = list(iter_shape_images((n_more + 2) // 3, size=size, seed=seed + 1000))[:n_more]
        for i, shape in enumerate(more):
            image = _image(shape.data, size)
            if i < n_gold:
                gold_label = by_name[shape.label].pk
                gold = Item.objects.create(project=project, image=image, is_gold=True, gold_label=gold_label)
                setup.gold.append(gold)
            else:
                item = Item.objects.create(project=project, image=image)
                item.true_label = by_name[shape.label].pk  # for assertions only, not stored
                setup.extra.append(item)
    return setup


def photo_image(path: str) -> Image:
    """An imagenette photo (manifest path) stored as an Image."""
    data = (IMAGENETTE / path).read_bytes()
    sha = hashlib.sha256(data).hexdigest()
    name = blob_store(name=original_name(sha, "jpg"), data=data)
    image, _ = Image.objects.get_or_create(
        sha256=sha,
        defaults={"file": name, "width": 224, "height": 224, "format": "JPEG", "mode": "RGB", "size_bytes": len(data)},
    )
    return image


def photo_version(
    owner, per_class: int, *, offset: int = 0, slug: str = "nette"
) -> tuple[DatasetVersion, list[DatasetVersionItem]]:
    """A classify project over imagenette's 10 synsets (categories with WordNet ids) and a version of
    `per_class` real photos per class (from the `offset`-th on), all done items. Needs ../shared."""
    rows = list(csv.DictReader((IMAGENETTE / "manifest.csv").open()))
    project = Project.objects.filter(slug=slug).first() or Project.objects.create(
        name=slug.title(), slug=slug, task_type=Project.TaskType.CLASSIFY
    )
    project.owners.add(owner)
    names = {}
    for r in rows:
        names.setdefault(int(r["label_index"]), (r["label"], r["wnid"]))
    cats = [Category.objects.get_or_create(project=project, name=n, defaults={"wnid": w})[0]
            for _, (n, w) in sorted(names.items())]  # fmt: skip
    classes = [{"index": i, "category_id": c.pk, "name": c.name} for i, c in enumerate(cats)]
    version = DatasetVersion.objects.create(project=project, number=1, classes=classes, items_count=0,
                                            content_hash="0" * 64, seed=0)  # fmt: skip
    out = []
    for k in range(len(cats)):
        for r in [r for r in rows if int(r["label_index"]) == k][offset : offset + per_class]:
            image = photo_image(r["path"])
            sha = image.sha256
            Item.objects.create(project=project, image=image, status=Item.Status.DONE, label=cats[k].pk)
            out.append(DatasetVersionItem.objects.create(
                version=version, image=image, image_sha256=sha, cluster_id=image.pk, category=cats[k], class_index=k,
                label_name=cats[k].name, split="train",
            ))  # fmt: skip
    return version, out
