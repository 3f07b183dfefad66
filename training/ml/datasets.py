"""Reads an `imagefolder` export of a dataset version.

Layout::

    ROOT/{train,val,test}/{class_name}/{file}
    ROOT/classes.json                       optional: list of class names (or of {"index", "name", "folder"}
                                            objects, as Annotate exports write), fixes the index order
    ROOT/manifest.jsonl | metadata.jsonl    optional: one JSON record per image, keyed by its relative path
    ROOT/class_wnids.json                   optional: each class's WordNet id ("" when none), in index order

The class list is `classes.json` when present, else the sorted union of class folders over all splits, so
a class index means the same in every split even when a split lacks a class. Labels always come from the
folder; manifest records are carried along as per-sample metadata (item ids, annotator counts ...).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from PIL import Image
from torch.utils.data import Dataset

SPLITS = ("train", "val", "test")
IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff"})
MANIFEST_NAMES = ("manifest.jsonl", "metadata.jsonl")
_PATH_KEYS = ("path", "file_name", "file", "filename")

Transform = Callable[[Image.Image], torch.Tensor]


def load_image(path: str | Path, decode_size: int | None = None) -> Image.Image:
    """Decode an image as RGB. For JPEG, `draft` lets libjpeg decode at 1/2, 1/4 or 1/8 scale while staying
    at least `decode_size` on each side -- several times faster when the target is much smaller."""
    with Image.open(path) as img:
        if decode_size and img.format == "JPEG":
            img.draft("RGB", (decode_size, decode_size))
        return img.convert("RGB")


def discover_classes(root: str | Path) -> list[str]:
    """Class names in index order (see module docstring)."""
    root = Path(root)
    classes_file = root / "classes.json"
    if classes_file.is_file():
        names = json.loads(classes_file.read_text())
        if isinstance(names, list) and all(isinstance(n, dict) for n in names):
            # Annotate's exports: [{"index", "name", "wnid", "folder"?}] in index order; the folder (else the
            # name) is what a class folder is called.
            names = [n.get("folder") or n.get("name") for n in sorted(names, key=lambda n: n.get("index", 0))]
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names) or len(set(names)) != len(names):
            raise ValueError(f"{classes_file} must be a JSON list of unique class names (or of class objects)")
        return names
    found = {d.name for split in SPLITS if (root / split).is_dir() for d in (root / split).iterdir() if d.is_dir()}
    if not found:
        raise ValueError(f"no class folders under {root}/{{{','.join(SPLITS)}}}")
    return sorted(found)


def read_class_wnids(root: str | Path, num_classes: int) -> list[str | None]:
    """WordNet id per class index (None where unknown); all None without class_wnids.json."""
    path = Path(root) / "class_wnids.json"
    if not path.is_file():
        return [None] * num_classes
    wnids = json.loads(path.read_text())
    if not isinstance(wnids, list) or len(wnids) != num_classes:
        raise ValueError(f'{path} must list one WordNet id (or "") per class')
    return [str(w) if w else None for w in wnids]


def read_manifest(root: str | Path) -> dict[str, dict[str, Any]]:
    """Manifest records keyed by image path relative to ROOT (posix); empty when there is no manifest."""
    root = Path(root)
    for name in MANIFEST_NAMES:
        path = root / name
        if path.is_file():
            records: dict[str, dict[str, Any]] = {}
            with path.open() as fh:
                for line in fh:
                    if not line.strip():
                        continue
                    record = json.loads(line)
                    key = next((record[k] for k in _PATH_KEYS if k in record), None)
                    if isinstance(key, str):
                        records[key.removeprefix("./")] = record
            return records
    return {}


def list_samples(root: str | Path, split: str, classes: Sequence[str]) -> list[tuple[str, int]]:
    """(path, class index) for every image of a split, sorted for determinism. Unknown class folders are
    an error when classes.json fixed the list (they would otherwise be silently dropped)."""
    split_dir = Path(root) / split
    if not split_dir.is_dir():
        return []
    index = {name: i for i, name in enumerate(classes)}
    samples: list[tuple[str, int]] = []
    for class_dir in sorted(d for d in split_dir.iterdir() if d.is_dir()):
        if class_dir.name not in index and class_dir.name.isdigit() and int(class_dir.name) < len(classes):
            # Annotate's imagefolder export names class folders by zero-padded index ("000", "001" ...)
            # and lists the names in classes.json.
            index[class_dir.name] = int(class_dir.name)
        if class_dir.name not in index:
            raise ValueError(f"class folder {class_dir} is not in the class list")
        for file in sorted(class_dir.iterdir()):
            if file.suffix.lower() in IMAGE_EXTENSIONS and file.is_file():
                samples.append((str(file), index[class_dir.name]))
    return samples


class ImageFolderSplit(Dataset[tuple[torch.Tensor, int]]):
    """One split of an imagefolder export; yields (uint8 image tensor, class index)."""

    def __init__(
        self,
        root: str | Path,
        split: str,
        classes: Sequence[str],
        transform: Transform,
        decode_size: int | None = None,
        manifest: dict[str, dict[str, Any]] | None = None,
    ) -> None:
        self.root = Path(root)
        self.split = split
        self.classes = list(classes)
        self.samples = list_samples(root, split, classes)
        self.transform = transform
        self.decode_size = decode_size
        self.manifest = manifest or {}

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        path, target = self.samples[i]
        return self.transform(load_image(path, self.decode_size)), target

    @property
    def targets(self) -> list[int]:
        return [t for _, t in self.samples]

    def metadata(self, i: int) -> dict[str, Any] | None:
        """The manifest record of sample i, if the export had one."""
        rel = Path(self.samples[i][0]).relative_to(self.root).as_posix()
        return self.manifest.get(rel)


class ImagePaths(Dataset[tuple[torch.Tensor, int]]):
    """Arbitrary image files (model-in-the-loop prediction); the target is the position in the list."""

    def __init__(self, paths: Sequence[str | Path], transform: Transform, decode_size: int | None = None) -> None:
        self.paths = [str(p) for p in paths]
        self.transform = transform
        self.decode_size = decode_size

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        return self.transform(load_image(self.paths[i], self.decode_size)), i


def load_splits(
    root: str | Path, train_transform: Transform, eval_transform: Transform, decode_size: int | None = None
) -> tuple[list[str], dict[str, ImageFolderSplit]]:
    """Class list and the three splits (a missing split is an empty dataset)."""
    classes = discover_classes(root)
    manifest = read_manifest(root)
    splits = {
        split: ImageFolderSplit(
            root, split, classes, train_transform if split == "train" else eval_transform, decode_size, manifest
        )
        for split in SPLITS
    }
    return classes, splits
