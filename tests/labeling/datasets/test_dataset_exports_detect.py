"""Detection projects (a category per box) in versions and exports: COCO read with pycocotools, YOLO with PyYAML and
our YOLO reader, VOC with torchvision's VOCDetection; then each export imported into another detection project
keeps every box's class."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from django.core.files.storage import default_storage

from labeling.models import Annotation, Item
from labeling.services.datasets import dataset_version_create
from labeling.services.imports import annotations_import, files_from_path
from labeling.services.imports.parsers import parse
from labeling.services.projects import project_create
from tests.labeling.datasets import factories as f
from tests.labeling.datasets.test_dataset_exports import extract, run_export

pytestmark = pytest.mark.django_db

CLASSES = ("car", "dog", "bike")
W, H = 80, 60


def drawn(i: int) -> list[tuple[str, list[int]]]:
    """The consensus boxes of image i as (class name, [x, y, w, h]); image 9 has none (a background image)."""
    if i == 9:
        return []
    if i % 3 == 0:
        return [("car", [5, 5, 20, 10]), ("dog", [30, 20, 25, 30])]
    if i % 3 == 1:
        return [("dog", [10, 10, 30, 30])]
    return [("bike", [40, 5, 20, 20]), ("car", [2, 30, 10, 10])]  # a tie: the image's label is the lower id (car)


def detect_project(owner, slug):
    return project_create(slug=slug, task_type="boxes", box_mode="detect", owner=owner,
                          categories=[{"name": c} for c in CLASSES])  # fmt: skip


@pytest.fixture
def detect_version(researcher, voters):
    p = detect_project(researcher, "det")
    ids = dict(p.categories.values_list("name", "id"))
    truth = {}
    for i in range(10):
        img = f.image(500 + i, width=W, height=H)
        f.source(p, img)
        boxes = [[*b, ids[name]] for name, b in drawn(i)]
        f.item(p, img, answer={"boxes": boxes}, confidence=0.9, votes=[(voters[0], None)])
        truth[img.id] = sorted((name, [float(v) for v in b]) for name, b in drawn(i))
    return dataset_version_create(project=p, split=(0.6, 0.2, 0.2)), truth


def test_version_classes_are_every_box_class(detect_version):
    version, truth = detect_version
    assert [c["name"] for c in version.classes] == list(CLASSES)  # bike never labels an image, still a class
    assert version.items_count == 10 and version.stats["boxes"] == 15
    rows = {r.image_id: r for r in version.rows.all()}
    names = [c["name"] for c in version.classes]
    for image_id, want in truth.items():
        row = rows[image_id]
        assert sorted((names[b[4]], [float(v) for v in b[:4]]) for b in row.boxes) == want
        assert (row.class_index, row.label_name) == ((-1, "") if not want else (names.index(row.label_name),
                                                                                 row.label_name))  # fmt: skip
    background = next(r for i, r in rows.items() if not truth[i])
    assert background.class_index == -1 and background.category_id is None
    assert {r.label_name for r in rows.values()} == {"car", "dog", ""}


def test_coco_category_per_annotation_with_pycocotools(detect_version, tmp_path):
    from pycocotools.coco import COCO

    version, truth = detect_version
    export = run_export(version, "coco")
    path = tmp_path / "instances.json"
    with default_storage.open(export.file.name, "rb") as fh:
        path.write_bytes(fh.read())
    coco = COCO(str(path))
    names = {c["id"]: c["name"] for c in coco.loadCats(coco.getCatIds())}
    assert sorted(names.values()) == sorted(CLASSES)
    for image_id, want in truth.items():
        anns = coco.loadAnns(coco.getAnnIds(imgIds=[image_id]))
        assert sorted((names[a["category_id"]], a["bbox"]) for a in anns) == want
    assert len(coco.getImgIds(catIds=[next(k for k, v in names.items() if v == "bike")])) == 3


def test_yolo_class_index_per_line(detect_version, tmp_path):
    version, truth = detect_version
    root = extract(run_export(version, "yolo"), tmp_path)
    data = yaml.safe_load((root / "data.yaml").read_text())
    assert data["names"] == dict(enumerate(CLASSES)) and data["nc"] == 3
    for label_file in (root / "labels").rglob("*.txt"):
        got = []
        for line in label_file.read_text().splitlines():
            cls, cx, cy, w, h = line.split()
            w, h = float(w) * W, float(h) * H
            box = [round(float(cx) * W - w / 2, 3), round(float(cy) * H - h / 2, 3), round(w, 3), round(h, 3)]
            got.append((data["names"][int(cls)], box))
        assert sorted(got) == truth[int(label_file.stem)]
    parsed = parse("yolo", files_from_path(root))
    assert not parsed.errors and {e.ref: sorted(b.label for b in e.boxes) for e in parsed.entries} == {
        str(i): sorted(name for name, _ in want) for i, want in truth.items()
    }


def test_voc_name_per_object_with_torchvision(detect_version, tmp_path):
    from torchvision.datasets import VOCDetection

    version, truth = detect_version
    root = extract(run_export(version, "voc"), tmp_path)
    seen = 0
    for split in ("train", "val"):
        for image, target in VOCDetection(str(root), year="2012", image_set=split, download=False):
            ann = target["annotation"]
            got = sorted((o["name"], [int(o["bndbox"][k]) for k in ("xmin", "ymin", "xmax", "ymax")])
                         for o in ann.get("object", []))  # fmt: skip
            want = sorted((n, [int(b[0]) + 1, int(b[1]) + 1, int(b[0] + b[2]), int(b[1] + b[3])])
                          for n, b in truth[int(Path(ann["filename"]).stem)])  # fmt: skip
            assert image.size == (W, H) and got == want
            seen += 1
    assert seen >= 1


@pytest.mark.parametrize("fmt", ["coco", "yolo", "voc"])
def test_export_imports_into_a_detection_project_with_its_classes(detect_version, researcher, tmp_path, fmt):
    version, truth = detect_version
    export = run_export(version, fmt)
    if fmt == "coco":
        with default_storage.open(export.file.name, "rb") as fh:
            files = {"instances.json": fh.read()}
    else:
        root = extract(export, tmp_path)
        files = files_from_path(root / "VOCdevkit" / "VOC2012" / "Annotations" if fmt == "voc" else root)
    target = detect_project(researcher, "again")
    for row in version.rows.select_related("image"):
        f.source(target, row.image)  # https://example.org/<image id>.jpg: the exports name images by id
        Item.objects.create(project=target, image=row.image)
    result = annotations_import(project=target, fmt=fmt, files=files, mode="votes", source_name=fmt)
    assert result.errors == [] and result.matched == 10 and result.created == 10
    names = dict(target.categories.values_list("id", "name"))
    for ann in Annotation.objects.filter(item__project=target).select_related("item"):
        got = sorted((names[b[4]], [round(v) for v in b[:4]]) for b in ann.answer["boxes"])
        assert got == [(n, [round(v) for v in b]) for n, b in truth[ann.item.image_id]], json.dumps(ann.answer)
