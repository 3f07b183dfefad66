"""`coco`: one COCO JSON file (instances format), written as a stream.

- `boxes` projects: one annotation per consensus box (`bbox` = [x, y, w, h] in pixels).
- `verify` / `classify` projects: one image-level annotation per image, whose `bbox` is the whole image
  (flagged `"image_level": true`) so pycocotools' COCO and COCOeval work unchanged.

Category ids are class index + 1 (COCO reserves 0). `file_name` is the image's path in the `imagefolder`
export of the same version (`split/class_index/image_id.ext`): extract that archive next to this file to
get the pixels. Every image also carries its split, source URL and license id.
"""

from __future__ import annotations

from typing import IO, Any

from labeling.models import DatasetVersion, DatasetVersionItem, Project
from labeling.services.exports.base import Progress, Row, dumps, iter_rows, relative_path

EXTENSION = ".json"
CONTENT_TYPE = "application/json"


def _licenses(version: DatasetVersion) -> dict[str, int]:
    names = DatasetVersionItem.objects.filter(version=version).values_list("license", flat=True).distinct()
    return {name: i for i, name in enumerate(sorted(set(names)), start=1)}


def write(version: DatasetVersion, out: IO[bytes], progress: Progress, options: dict[str, Any]) -> int:
    n_classes = len(version.classes)
    licenses = _licenses(version)
    boxes_project = version.project.task_type == Project.TaskType.BOXES
    info = {"description": f"{version.project.name} v{version.number}", "version": str(version.number),
            "year": version.created_at.year, "date_created": version.created_at.isoformat(),
            "content_hash": version.content_hash}  # fmt: skip
    out.write(b'{"info":' + dumps(info).encode())
    out.write(b',"licenses":' + dumps([{"id": i, "name": n or "unknown", "url": ""} for n, i in licenses.items()]
                                      ).encode())  # fmt: skip
    cats = [{"id": c["index"] + 1, "name": c["name"], "supercategory": ""} for c in version.classes]
    out.write(b',"categories":' + dumps(cats).encode())
    out.write(b',"images":[')
    count, total = 0, 2 * max(version.items_count, 1)
    for row in iter_rows(version, ("image_id",)):
        image = {"id": row.image_id, "file_name": relative_path(row, n_classes), "width": row.width,
                 "height": row.height, "license": licenses[row.license], "split": row.split,
                 "source_uri": row.source_uri, "attribution": row.attribution, "sha256": row.image_sha256}  # fmt: skip
        out.write((b"," if count else b"") + dumps(image).encode())
        count += 1
        progress(count / total)
    out.write(b'],"annotations":[')
    ann_id = 0
    for i, row in enumerate(iter_rows(version, ("image_id",)), start=1):
        for ann in _annotations(row, boxes_project):
            ann_id += 1
            out.write((b"," if ann_id > 1 else b"") + dumps({"id": ann_id, "image_id": row.image_id, **ann}).encode())
        progress((count + i) / total)
    out.write(b"]}")
    return count


def _annotations(row: Row, boxes_project: bool) -> list[dict[str, Any]]:
    if boxes_project:
        out = []
        for box in row.boxes:
            x, y, w, h = (float(v) for v in box[:4])
            idx = int(box[4]) if len(box) > 4 and int(box[4]) >= 0 else row.class_index
            out.append({"category_id": idx + 1, "bbox": [x, y, w, h], "area": w * h, "iscrowd": 0})
        return out
    w, h = row.width, row.height
    return [{"category_id": row.class_index + 1, "bbox": [0, 0, w, h], "area": w * h, "iscrowd": 0,
             "image_level": True, "score": row.posterior}]  # fmt: skip
