"""`imagefolder`: a tar of `split/class_index/image_id.ext`, loadable with torchvision's ImageFolder.

Class folders are zero-padded class indices (`000`, `001` ...), never category names: ImageFolder sorts
folder names, so its class index equals ours, and `classes.json` (names in index order) maps an index to
its name. `metadata.jsonl` at the root follows Hugging Face's imagefolder convention (`file_name`
relative to the root). `README.md` is the dataset card.
"""

from __future__ import annotations

import tempfile
from typing import IO, Any

from labeling.models import DatasetVersion
from labeling.services.exports.base import (
    Progress,
    TarStream,
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
classes = json.load(open("classes.json"))          # names in class-index order
train = torchvision.datasets.ImageFolder("train")   # folders 000, 001 ... = class indices
name = classes[int(train.classes[label])]           # for a (image, label) sample
```

If a split lacks some class, ImageFolder renumbers the folders it finds; `int(train.classes[label])` is
always the true class index. Hugging Face: `load_dataset("imagefolder", data_dir=".")` reads metadata.jsonl.
"""


def write(version: DatasetVersion, out: IO[bytes], progress: Progress, options: dict[str, Any]) -> int:
    n_classes = len(version.classes)
    count, total = 0, max(version.items_count, 1)
    tar = TarStream(out, version_mtime(version))
    with tempfile.TemporaryFile(mode="w+b") as meta:
        tar.add_bytes("README.md", (version.card + LOADING).encode())
        tar.add_bytes("classes.json", classes_json(version))
        for row, image in read_images(iter_rows(version)):
            tar.add_bytes(relative_path(row, n_classes), image)
            meta.write(record_json(row, n_classes).encode() + b"\n")
            count += 1
            if count % 200 == 0:
                progress(count / total)
        size = meta.tell()
        meta.seek(0)
        tar.add_file("metadata.jsonl", meta, size)
    tar.close()
    return count


__all__ = ["CONTENT_TYPE", "EXTENSION", "write"]
