"""`imagefolder`: a tar of `split/class_index/image_id.ext`, loadable with torchvision's ImageFolder.

Class folders are zero-padded class indices (`000`, `001` ...) by default: ImageFolder sorts folder names,
so its class index equals ours, and `classes.json` (index, name, WordNet id in index order) maps an index
to its name. Option `folder_names=wnid` gives the ImageNet layout instead (`train/n01440764/...`): a class
without a valid WordNet id gets a folder from its name, made safe (ASCII slug, never a path). Then
ImageFolder's indices follow the sorted folder names, and classes.json's `folder` maps them back.
`metadata.jsonl` at the root follows Hugging Face's imagefolder convention (`file_name` relative to the
root). `README.md` is the dataset card.
"""

from __future__ import annotations

import re
import tempfile
from typing import IO, Any

from django.utils.text import slugify

from labeling.models import DatasetVersion
from labeling.services.exports.base import (
    Progress,
    TarStream,
    class_folder,
    class_wnids,
    classes_json,
    iter_rows,
    read_images,
    record_json,
    relative_path,
    version_mtime,
)

EXTENSION = ".tar"
CONTENT_TYPE = "application/x-tar"

LOADING = """
## Loading this export

```python
import json, torchvision
classes = json.load(open("classes.json"))          # [{"index", "name", "wnid", "folder"}] in class-index order
by_folder = {c["folder"]: c for c in classes}
train = torchvision.datasets.ImageFolder("train")   # folders 000, 001 ... (or WordNet ids n01440764 ...)
name = by_folder[train.classes[label]]["name"]      # for a (image, label) sample
```

If a split lacks some class, ImageFolder renumbers the folders it finds; `by_folder[train.classes[label]]`
is always the right class. Hugging Face: `load_dataset("imagefolder", data_dir=".")` reads metadata.jsonl.
"""
FOLDER_NAMES = ("index", "wnid")
_WNID = re.compile(r"^[a-z][0-9]{8}$")  # WordNet synset offsets: n01440764


def class_folders(version: DatasetVersion, folder_names: str) -> list[str]:
    """The folder of each class index: its zero-padded index, or (`wnid`) its WordNet id, falling back to a
    safe slug of its name (then of its index) for a class without one; unique in any case."""
    n = len(version.classes)
    if folder_names != "wnid":
        return [class_folder(i, n) for i in range(n)]
    folders: list[str] = []
    for c, wnid in zip(version.classes, class_wnids(version), strict=True):
        folder = wnid if wnid and _WNID.match(wnid) else (slugify(c["name"])[:80] or class_folder(c["index"], n))
        if folder in folders:
            folder = f"{folder}-{class_folder(c['index'], n)}"
        folders.append(folder)
    return folders


def write(version: DatasetVersion, out: IO[bytes], progress: Progress, options: dict[str, Any]) -> int:
    n_classes = len(version.classes)
    folders = class_folders(version, options.get("folder_names", "index"))
    count, total = 0, max(version.items_count, 1)
    tar = TarStream(out, version_mtime(version))
    with tempfile.TemporaryFile(mode="w+b") as meta:
        tar.add_bytes("README.md", (version.card + LOADING).encode())
        tar.add_bytes("classes.json", classes_json(version, folders))
        for row, image in read_images(iter_rows(version)):
            tar.add_bytes(relative_path(row, n_classes, folders), image)
            meta.write(record_json(row, n_classes, folders).encode() + b"\n")
            count += 1
            if count % 200 == 0:
                progress(count / total)
        size = meta.tell()
        meta.seek(0)
        tar.add_file("metadata.jsonl", meta, size)
    tar.close()
    return count


__all__ = ["CONTENT_TYPE", "EXTENSION", "FOLDER_NAMES", "class_folders", "write"]
