"""Materialise a dataset version as an imagefolder tree on the worker's local disk.

Layout: ROOT/{train,val,test}/<zero-padded class index>/<image id>.<ext>, ROOT/classes.json and
ROOT/class_wnids.json (WordNet ids, for the pretrained head's ImageNet rows). Paths are
built from ids only (never from names a user typed). classes.json lists the *folder names* in index order,
so `training.ml.datasets` maps folder i to class index i even when a split lacks a class; the human class
names stay in `version.classes`. The tree is written to a temporary sibling and renamed into place, so a
killed worker never leaves a half-copied dataset that a resume would trust.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from django.core.files.storage import default_storage

from annotate.exceptions import ServiceError
from labeling.models import Category, DatasetVersion, DatasetVersionItem
from labeling.services.exports.base import class_folder, image_extension

COMPLETE_MARKER = ".complete"
_CHUNK = 1 << 20


def version_class_names(version: DatasetVersion) -> list[str]:
    return [str(c["name"]) for c in sorted(version.classes, key=lambda c: int(c["index"]))]


def version_class_wnids(version: DatasetVersion) -> list[str]:
    """Each class's WordNet id ("" when its category has none), in class-index order."""
    ordered = sorted(version.classes, key=lambda c: int(c["index"]))
    wnids = dict(Category.objects.filter(pk__in=[c.get("category_id") for c in ordered]).values_list("pk", "wnid"))
    return [wnids.get(c.get("category_id")) or "" for c in ordered]


def version_materialise(*, version: DatasetVersion, root: Path) -> Path:
    """Copy the version's labelled images from storage into `root` (idempotent; returns `root`)."""
    root = Path(root)
    if (root / COMPLETE_MARKER).is_file():
        return root
    n_classes = len(version.classes)
    if n_classes < 2:
        raise ServiceError(f"dataset version {version.pk} has {n_classes} classes; training needs at least 2.",
                           code="too_few_classes")  # fmt: skip
    tmp = root.with_name(f".{root.name}.{os.getpid()}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    rows = (
        DatasetVersionItem.objects.filter(version=version, class_index__gte=0, class_index__lt=n_classes)
        .select_related("image")
        .only("id", "split", "class_index", "image_id", "image__file", "image__format")
        .order_by("id")
    )
    count = 0
    for row in rows.iterator(chunk_size=2000):
        folder = tmp / row.split / class_folder(row.class_index, n_classes)
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / f"{int(row.image_id)}{image_extension(row.image.format)}"
        with default_storage.open(row.image.file.name, "rb") as src, target.open("wb") as dst:
            shutil.copyfileobj(src, dst, _CHUNK)
        count += 1
    if count == 0:
        shutil.rmtree(tmp, ignore_errors=True)
        raise ServiceError(f"dataset version {version.pk} has no labelled images.", code="empty_version")
    folders = [class_folder(i, n_classes) for i in range(n_classes)]
    (tmp / "classes.json").write_text(json.dumps(folders))
    (tmp / "class_names.json").write_text(json.dumps(version_class_names(version), ensure_ascii=False))
    (tmp / "class_wnids.json").write_text(json.dumps(version_class_wnids(version)))  # ImageNet classes: head init
    (tmp / COMPLETE_MARKER).write_text(str(count))
    shutil.rmtree(root, ignore_errors=True)
    root.parent.mkdir(parents=True, exist_ok=True)
    os.replace(tmp, root)
    return root
