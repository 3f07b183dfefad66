"""`yolo`: a tar in the Ultralytics YOLO detection layout, for `boxes` projects.

    data.yaml                       path, train/val/test image folders, names {index: class name}, nc
    images/<split>/<image_id>.<ext> the image bytes as ingested
    labels/<split>/<image_id>.txt   one line per consensus box: `class cx cy w h`, normalised to 0..1
    README.md                       the dataset card

Class indices are the version's (classes.json order); an image without boxes has an empty label file (a
background image). Paths are built from ids only.
"""

from __future__ import annotations

from typing import IO, Any

import yaml

from labeling.models import DatasetVersion
from labeling.services.exports.base import (
    Progress,
    TarStream,
    classes_json,
    image_extension,
    iter_rows,
    read_images,
    version_mtime,
)

EXTENSION = ".tar"
CONTENT_TYPE = "application/x-tar"
BOX_PROJECTS_ONLY = True

LOADING = """
## Loading this export

```python
from ultralytics import YOLO
YOLO("yolov8n.pt").train(data="data.yaml")   # or any reader of the YOLO txt format
```
"""


def data_yaml(version: DatasetVersion) -> bytes:
    names = {c["index"]: c["name"] for c in version.classes}
    doc = {"path": ".", "train": "images/train", "val": "images/val", "test": "images/test", "nc": len(names),
           "names": names}  # fmt: skip
    return yaml.safe_dump(doc, allow_unicode=True, sort_keys=False).encode()


def label_lines(boxes: list[list[float]], default_index: int, width: int, height: int) -> str:
    lines = []
    for box in boxes:
        x, y, w, h = (float(v) for v in box[:4])
        index = int(box[4]) if len(box) > 4 and int(box[4]) >= 0 else default_index
        cx, cy = (x + w / 2) / width, (y + h / 2) / height
        lines.append(f"{index} {cx:.6f} {cy:.6f} {w / width:.6f} {h / height:.6f}\n")
    return "".join(lines)


def write(version: DatasetVersion, out: IO[bytes], progress: Progress, options: dict[str, Any]) -> int:
    count, total = 0, max(version.items_count, 1)
    tar = TarStream(out, version_mtime(version))
    tar.add_bytes("README.md", (version.card + LOADING).encode())
    tar.add_bytes("data.yaml", data_yaml(version))
    tar.add_bytes("classes.json", classes_json(version))
    for row, image in read_images(iter_rows(version)):
        stem = f"{row.split}/{row.image_id}"
        tar.add_bytes(f"images/{stem}{image_extension(row.format)}", image)
        tar.add_bytes(f"labels/{stem}.txt", label_lines(row.boxes, row.class_index, row.width, row.height).encode())
        count += 1
        if count % 200 == 0:
            progress(count / total)
    tar.close()
    return count
