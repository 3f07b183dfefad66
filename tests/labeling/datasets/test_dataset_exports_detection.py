"""YOLO and Pascal VOC exports of box projects, read back with torchvision's VOCDetection, PyYAML and our own
annotation import (the round trip must give the consensus boxes back)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from annotate.exceptions import ServiceError
from labeling.services.datasets import dataset_version_create
from labeling.services.exports import dataset_export_request
from labeling.services.imports.parsers import files_from_path, parse
from tests.labeling.datasets import factories as f
from tests.labeling.datasets.test_dataset_exports import extract, run_export

pytestmark = pytest.mark.django_db

BOXES = [[5, 5, 20, 10], [30, 20, 25, 30]]


@pytest.fixture
def box_version(researcher, voters):
    p = f.project(researcher, slug="det", task_type="boxes", classes=("car",))
    for i in range(10):
        img = f.image(300 + i, width=80, height=60)
        f.source(p, img)
        f.item(p, img, answer={"boxes": BOXES if i else []}, confidence=0.8, votes=[(voters[0], None)])
    return dataset_version_create(project=p, split=(0.6, 0.2, 0.2))


def test_yolo_layout_and_round_trip(box_version, tmp_path):
    root = extract(run_export(box_version, "yolo"), tmp_path)
    data = yaml.safe_load((root / "data.yaml").read_text())
    assert data["names"] == {0: "car"} and data["nc"] == 1 and data["train"] == "images/train"
    labels = sorted((root / "labels").rglob("*.txt"))
    images = sorted((root / "images").rglob("*.jpg"))
    assert len(labels) == len(images) == box_version.items_count
    assert {p.relative_to(root / "labels").with_suffix("") for p in labels} == {
        p.relative_to(root / "images").with_suffix("") for p in images
    }
    parsed = parse("yolo", files_from_path(root))
    assert not parsed.errors
    boxes = {e.ref: e.boxes for e in parsed.entries}
    assert sum(1 for b in boxes.values() if not b) == 1  # the image without boxes: an empty label file
    for entry_boxes in boxes.values():
        got = sorted([round((b.x - b.w / 2) * 80, 3), round((b.y - b.h / 2) * 60, 3), round(b.w * 80, 3),
                      round(b.h * 60, 3)] for b in entry_boxes)  # fmt: skip
        assert got in ([], sorted([[float(v) for v in box] for box in BOXES]))


def test_voc_loads_with_torchvision_and_round_trips(box_version, tmp_path):
    from torchvision.datasets import VOCDetection

    root = extract(run_export(box_version, "voc"), tmp_path)
    sets = root / "VOCdevkit" / "VOC2012" / "ImageSets" / "Main"
    ids = {s: (sets / f"{s}.txt").read_text().split() for s in ("train", "val", "test", "trainval")}
    assert ids["trainval"] == ids["train"] + ids["val"]
    assert len(ids["trainval"]) + len(ids["test"]) == box_version.items_count
    n = 0
    for split in ("train", "val"):  # torchvision knows VOC2012's train / val / trainval image sets
        ds = VOCDetection(str(root), year="2012", image_set=split, download=False)
        for image, target in ds:
            n += 1
            assert image.size == (80, 60)
            objects = target["annotation"].get("object", [])
            for obj in objects:
                assert obj["name"] == "car"
            got = sorted([int(o["bndbox"][k]) for k in ("xmin", "ymin", "xmax", "ymax")] for o in objects)
            assert got in ([], [[6, 6, 25, 15], [31, 21, 55, 50]])  # 1-based, inclusive
    assert n == len(ids["trainval"])
    parsed = parse("voc", files_from_path(Path(root) / "VOCdevkit" / "VOC2012" / "Annotations"))
    assert not parsed.errors
    for entry in parsed.entries:
        assert sorted([b.x, b.y, b.w, b.h] for b in entry.boxes) in ([], sorted([float(v) for v in b] for b in BOXES))


def test_detection_formats_only_for_box_projects(classify_project, client, researcher):
    version = dataset_version_create(project=classify_project)
    for fmt in ("yolo", "voc"):
        with pytest.raises(ServiceError) as info:
            dataset_export_request(version=version, fmt=fmt, enqueue=False)
        assert info.value.code == "invalid_format"
    client.force_login(researcher)
    html = client.get(f"/datasets/{version.pk}/").content.decode()
    assert 'data-testid="export-csv"' in html and 'data-testid="export-yolo"' not in html
