"""Issue 28, findings 12 and 13: an import matches an image by its SHA-256 first (our exports name files by image
id, which another image's crawled name can share); a name or stem match is only a fallback, and reported. The
category import refuses parent loops, as create and update do."""

from __future__ import annotations

import json

import pytest

from labeling.models import Annotation, Category, ImageSource, Item
from labeling.services.categories import categories_import
from labeling.services.imports import annotations_import
from tests.labeling.quality.qfactories import make_project

pytestmark = pytest.mark.django_db


def coco(images: list[tuple[int, str, str]], category: str) -> dict[str, bytes]:
    doc = {
        "images": [{"id": i, "file_name": name, "width": 40, "height": 30, "sha256": sha} for i, name, sha in images],
        "annotations": [{"id": i, "image_id": i, "category_id": 1, "bbox": [0, 0, 40, 30]} for i, _, _ in images],
        "categories": [{"id": 1, "name": category}],
    }
    return {"instances.json": json.dumps(doc).encode()}


def test_our_own_coco_export_matches_by_sha256_not_by_a_crawled_name(make_user):
    owner = make_user("own", role="researcher")
    project, items = make_project(slug="m", owner=owner, task_type="classify", categories=("cat", "dog"), n_items=2)
    crawled, exported = items[0].image, items[1].image
    # The crawled image is named like the export names the other one (`<image id>.jpg`).
    ImageSource.objects.filter(project=project, image=crawled).update(source_uri=f"crawl/{exported.id}.jpg")
    files = coco([(1, f"train/000/{exported.id}.jpg", exported.sha256)], "dog")
    result = annotations_import(project=project, fmt="coco", files=files, mode="votes", source_name="ours")
    assert result.matched == 1 and result.matched_by_name == 0
    voted = set(Annotation.objects.filter(user__username="imported-ours").values_list("item__image_id", flat=True))
    assert voted == {exported.id}

    # A hash of bytes the project does not hold matches nothing, whatever the name says.
    other = coco([(2, f"crawl/{exported.id}.jpg", "0" * 64)], "dog")
    result = annotations_import(project=project, fmt="coco", files=other, mode="votes", source_name="other")
    assert (result.matched, result.unmatched) == (0, 1)


def test_a_name_match_is_reported_and_can_be_refused(make_user):
    owner = make_user("own", role="researcher")
    project, items = make_project(slug="n", owner=owner, task_type="classify", categories=("cat", "dog"), n_items=2)
    ImageSource.objects.filter(project=project, image=items[0].image).update(source_uri="imgs/a.jpg")
    files = {"l.csv": b"image,label\na.jpg,cat\n"}
    refused = annotations_import(project=project, fmt="csv", files=files, mode="gold", by_name=False)
    assert (refused.matched, refused.unmatched) == (0, 1)
    assert not Item.objects.filter(is_gold=True).exists()
    result = annotations_import(project=project, fmt="csv", files=files, mode="gold")
    assert result.matched == 1 and result.matched_by_name == 1
    assert result.name_matches == [{"entry": "row 2", "ref": "a.jpg", "image": items[0].image_id}]
    assert result.summary()["matched_by_name"] == 1
    sha = {"l.csv": f"image,label\n{items[1].image.sha256},dog\n".encode()}
    by_sha = annotations_import(project=project, fmt="csv", files=sha, mode="gold")
    assert by_sha.matched == 1 and by_sha.matched_by_name == 0


def test_category_import_refuses_a_parent_loop(make_user):
    owner = make_user("own", role="researcher")
    project, _ = make_project(slug="c", owner=owner, task_type="classify", categories=("cat",), n_items=0)
    result = categories_import(project=project, data=b"name,parent\ndog,beagle\nbeagle,dog\n", filename="c.csv")
    assert len(result.errors) == 1 and result.errors[0].startswith("Row 2:")
    parents = dict(Category.objects.filter(project=project).values_list("name", "parent__name"))
    assert parents["dog"] == "beagle" and parents["beagle"] is None
