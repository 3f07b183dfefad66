"""`voc`: a tar in the Pascal VOC layout, for `boxes` projects (loads with torchvision's VOCDetection).

    VOCdevkit/VOC2012/JPEGImages/<image_id>.<ext>     the image bytes as ingested
    VOCdevkit/VOC2012/Annotations/<image_id>.xml      <annotation>: filename, size, one <object> per box
    VOCdevkit/VOC2012/ImageSets/Main/<split>.txt      image ids of each split (train, val, test) and trainval
    README.md                                         the dataset card

Boxes follow VOC's 1-based pixel convention: xmin = x + 1, xmax = x + w (our boxes are 0-based [x, y, w, h]);
the annotation import reads them back the same way. torchvision's VOCDetection opens `<id>.jpg`: versions of
JPEG images load directly; other formats keep their own extension (named in each XML's <filename>).
"""

from __future__ import annotations

from typing import IO, Any
from xml.etree.ElementTree import Element, SubElement, tostring

from labeling.models import DatasetVersion
from labeling.services.exports.base import Progress, TarStream, image_extension, iter_rows, read_images, version_mtime

EXTENSION = ".tar"
CONTENT_TYPE = "application/x-tar"
BOX_PROJECTS_ONLY = True
ROOT = "VOCdevkit/VOC2012"

LOADING = """
## Loading this export

```python
import torchvision
train = torchvision.datasets.VOCDetection(".", year="2012", image_set="train")
```
"""


def _text(parent: Element, tag: str, value: object) -> Element:
    el = SubElement(parent, tag)
    el.text = str(value)
    return el


def annotation_xml(*, filename: str, width: int, height: int, objects: list[tuple[str, list[float]]],
                   source: str) -> bytes:  # fmt: skip
    root = Element("annotation")
    _text(root, "folder", "VOC2012")
    _text(root, "filename", filename)
    src = SubElement(root, "source")
    _text(src, "database", source)
    size = SubElement(root, "size")
    _text(size, "width", width)
    _text(size, "height", height)
    _text(size, "depth", 3)
    _text(root, "segmented", 0)
    for name, (x, y, w, h) in objects:
        obj = SubElement(root, "object")
        _text(obj, "name", name)
        _text(obj, "pose", "Unspecified")
        _text(obj, "truncated", 0)
        _text(obj, "difficult", 0)
        bb = SubElement(obj, "bndbox")
        x1, y1 = max(1, round(x) + 1), max(1, round(y) + 1)
        _text(bb, "xmin", x1)
        _text(bb, "ymin", y1)
        _text(bb, "xmax", max(x1, min(width, round(x + w))))
        _text(bb, "ymax", max(y1, min(height, round(y + h))))
    return tostring(root, encoding="utf-8", xml_declaration=True)


def write(version: DatasetVersion, out: IO[bytes], progress: Progress, options: dict[str, Any]) -> int:
    names = {c["index"]: c["name"] for c in version.classes}
    splits: dict[str, list[str]] = {"train": [], "val": [], "test": []}
    count, total = 0, max(version.items_count, 1)
    tar = TarStream(out, version_mtime(version))
    tar.add_bytes("README.md", (version.card + LOADING).encode())
    source = f"{version.project.name} v{version.number}"
    for row, image in read_images(iter_rows(version)):
        filename = f"{row.image_id}{image_extension(row.format)}"
        objects = []
        for box in row.boxes:
            index = int(box[4]) if len(box) > 4 and int(box[4]) >= 0 else row.class_index
            objects.append((names.get(index, row.label_name), [float(v) for v in box[:4]]))
        tar.add_bytes(f"{ROOT}/JPEGImages/{filename}", image)
        xml = annotation_xml(filename=filename, width=row.width, height=row.height, objects=objects, source=source)
        tar.add_bytes(f"{ROOT}/Annotations/{row.image_id}.xml", xml)
        splits.setdefault(row.split, []).append(str(row.image_id))
        count += 1
        if count % 200 == 0:
            progress(count / total)
    splits["trainval"] = splits["train"] + splits["val"]
    for split, ids in splits.items():
        tar.add_bytes(f"{ROOT}/ImageSets/Main/{split}.txt", "".join(f"{i}\n" for i in ids).encode())
    tar.close()
    return count
