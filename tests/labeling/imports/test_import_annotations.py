"""Importing COCO, YOLO, Pascal VOC and CSV annotations as gold or votes: matching, all-or-nothing, the command's
JSON line, the API and the page. Files are written as the tools that produce them do (the COCO file is also loaded
with pycocotools, the reference reader)."""

from __future__ import annotations

import io
import json
import zipfile

import pytest
from django.core.management import CommandError, call_command

from labeling.models import Annotation, ImageSource, Item
from labeling.services.imports import ImportFailed, annotations_import, files_from_path, files_from_upload
from tests.labeling.quality.qfactories import make_project

pytestmark = pytest.mark.django_db


def named(project, items):
    """Source paths like a real crawl folder: imgs/img0.jpg ... (one image per item, 40x30)."""
    for i, item in enumerate(items):
        ImageSource.objects.filter(project=project, image=item.image).update(source_uri=f"imgs/img{i}.jpg")
    return [f"img{i}.jpg" for i in range(len(items))]


def csv_bytes(rows):
    return ("image,label\n" + "".join(f"{a},{b}\n" for a, b in rows)).encode()


@pytest.fixture
def classify(make_user):
    owner = make_user("own", role="researcher")
    project, items = make_project(slug="cls", owner=owner, task_type="classify", categories=("cat", "dog"), n_items=3)
    return project, items, named(project, items), owner


def test_csv_as_gold(classify):
    project, items, names, _ = classify
    files = {"l.csv": csv_bytes([(names[0], "cat"), (f"sub/{names[1]}", "dog"), ("elsewhere.jpg", "cat")])}
    result = annotations_import(project=project, fmt="csv", files=files, mode="gold")
    assert result.summary() == {"matched": 2, "created": 2, "unmatched": 1, "errors": [], "matched_by_name": 2}
    ids = dict(project.categories.values_list("name", "id"))
    gold = dict(Item.objects.filter(is_gold=True).values_list("pk", "gold_label"))
    assert gold == {items[0].pk: ids["cat"], items[1].pk: ids["dog"]}
    again = annotations_import(project=project, fmt="csv", files=files, mode="gold")
    assert again.created == 0 and again.matched == 2  # re-import: nothing new


def test_bad_entries_fail_the_whole_import(classify):
    project, _items, names, _ = classify
    files = {"l.csv": csv_bytes([(names[0], "cat"), (names[1], "horse"), (names[2], "cat"), (names[2], "dog")])}
    with pytest.raises(ImportFailed) as info:
        annotations_import(project=project, fmt="csv", files=files, mode="votes")
    errors = info.value.result.errors
    assert [e["entry"] for e in errors] == ["row 3", "row 4"]
    assert "unknown category 'horse'" in errors[0]["message"] and "one label" in errors[1]["message"]
    assert not Annotation.objects.exists() and not Item.objects.filter(is_gold=True).exists()
    from django.contrib.auth import get_user_model

    assert not get_user_model().objects.filter(username="imported-imported").exists()


def coco_doc(names, boxes=True):
    return {
        "images": [{"id": i + 1, "file_name": n, "width": 40, "height": 30} for i, n in enumerate(names)],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 7, "bbox": [1, 2, 10, 8], "area": 80, "iscrowd": 0},
            {"id": 2, "image_id": 2, "category_id": 9, "bbox": [5, 5, 20, 20], "area": 400, "iscrowd": 0},
            {"id": 3, "image_id": 2, "category_id": 7, "bbox": [0, 0, 4, 4], "area": 16, "iscrowd": 0},
        ],
        "categories": [{"id": 7, "name": "cat"}, {"id": 9, "name": "dog"}],
    }


def test_coco_into_verify_as_votes_of_an_imported_annotator(make_user, tmp_path):
    from pycocotools.coco import COCO

    project, items = make_project(slug="ver", task_type="verify", categories=("cat",), n_items=3)
    dog = project.categories.create(name="dog")
    for item in list(items):  # a "dog" candidate item for every image too
        Item.objects.create(project=project, image=item.image, category=dog, needed_votes=3)
    names = named(project, items)
    path = tmp_path / "instances.json"
    path.write_text(json.dumps(coco_doc(names)))
    assert len(COCO(str(path)).getAnnIds()) == 3  # the reference reader loads it
    result = annotations_import(project=project, fmt="coco", files=files_from_path(path), mode="votes",
                                source_name="coco-2017")  # fmt: skip
    assert result.summary() == {"matched": 3, "created": 6, "unmatched": 0, "errors": [], "matched_by_name": 3}
    votes = {
        (a.item.image_id, a.item.category.name): a.label for a in Annotation.objects.select_related("item__category")
    }
    img = [i.image_id for i in items]
    assert votes == {(img[0], "cat"): 1, (img[0], "dog"): 0, (img[1], "cat"): 1, (img[1], "dog"): 1,
                     (img[2], "cat"): 0, (img[2], "dog"): 0}  # fmt: skip
    assert set(Annotation.objects.values_list("user__username", flat=True)) == {"imported-coco-2017"}
    assert not Annotation.objects.first().user.is_active
    assert set(Item.objects.filter(project=project).values_list("votes_count", flat=True)) == {1}
    again = annotations_import(project=project, fmt="coco", files=files_from_path(path), source_name="coco-2017")
    assert again.created == 0 and Annotation.objects.count() == 6


def test_yolo_and_voc_boxes_as_votes(make_user, tmp_path):
    project, items = make_project(slug="box", task_type="boxes", categories=("cat",), n_items=2)
    Item.objects.filter(project=project).update(category=None)
    names = named(project, items)
    yolo = tmp_path / "yolo"
    (yolo / "labels").mkdir(parents=True)
    (yolo / "data.yaml").write_text("names:\n  0: cat\n")
    (yolo / "labels" / "img0.txt").write_text("0 0.5 0.5 0.5 0.5\n")
    (yolo / "labels" / "img1.txt").write_text("")
    result = annotations_import(project=project, fmt="yolo", files=files_from_path(yolo), source_name="yolo")
    assert result.summary() == {"matched": 2, "created": 2, "unmatched": 0, "errors": [], "matched_by_name": 2}
    answers = {a.item_id: a.answer for a in Annotation.objects.all()}
    assert answers == {items[0].pk: {"boxes": [[10.0, 7.5, 20.0, 15.0]]}, items[1].pk: {"boxes": []}}

    xml = (f"<annotation><filename>{names[1]}</filename><size><width>40</width><height>30</height></size>"
           "<object><name>cat</name><bndbox><xmin>2</xmin><ymin>3</ymin><xmax>12</xmax><ymax>13</ymax></bndbox>"
           "</object></annotation>")  # fmt: skip
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("Annotations/img1.xml", xml)
        zf.writestr("../evil.xml", xml)  # path traversal names are ignored
    result = annotations_import(project=project, fmt="voc", files=files_from_upload("voc.zip", buf.getvalue()),
                                source_name="voc")  # fmt: skip
    assert result.summary() == {"matched": 1, "created": 1, "unmatched": 0, "errors": [], "matched_by_name": 1}
    voc = Annotation.objects.get(user__username="imported-voc")
    assert voc.item_id == items[1].pk
    assert voc.answer == {"boxes": [[1.0, 2.0, 11.0, 11.0]]}  # VOC: 1-based, inclusive
    with pytest.raises(ImportFailed):
        annotations_import(project=project, fmt="yolo", files=files_from_path(yolo), mode="gold")


def test_hostile_xml_is_an_entry_error(make_user):
    project, _ = make_project(slug="xmlbomb", task_type="boxes", categories=("cat",), n_items=1)
    bomb = (b'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY b "bbbbbbbb"><!ENTITY c "&b;&b;&b;&b;">]>'
            b"<annotation>&c;</annotation>")  # fmt: skip
    with pytest.raises(ImportFailed) as info:
        annotations_import(project=project, fmt="voc", files={"a.xml": bomb})
    assert info.value.result.errors[0]["entry"] == "a.xml"


def test_command_json_last_line(classify, tmp_path, capsys):
    project, _items, names, _ = classify
    path = tmp_path / "labels.csv"
    path.write_text(csv_bytes([(names[0], "cat"), ("nope.jpg", "dog")]).decode())
    call_command("import_annotations", str(path), "--project", project.slug, "--format", "csv", "--as", "votes",
                 "--json")  # fmt: skip
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert json.loads(last) == {"matched": 1, "created": 1, "unmatched": 1, "errors": [], "matched_by_name": 1}
    path.write_text(csv_bytes([(names[1], "zebra")]).decode())
    with pytest.raises(CommandError):
        call_command("import_annotations", str(path), "--project", project.slug, "--format", "csv", "--json")
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["created"] == 0 and out["errors"][0]["entry"] == "row 2"


def test_api_and_page(classify, api_client, client, make_user):
    from django.core.files.uploadedfile import SimpleUploadedFile

    project, items, names, owner = classify
    url = f"/api/projects/{project.slug}/imports"
    upload = lambda rows: SimpleUploadedFile("l.csv", csv_bytes(rows), content_type="text/csv")  # noqa: E731
    api_client.force_authenticate(make_user("stranger", role="researcher"))
    assert api_client.post(url, {"file": upload([(names[0], "cat")]), "format": "csv"}).status_code == 404
    api_client.force_authenticate(owner)
    r = api_client.post(url, {"file": upload([(names[0], "cat"), (names[1], "emu")]), "format": "csv"})
    assert r.status_code == 400 and r.json()["code"] == "import_failed"
    assert r.json()["errors"] == [{"entry": "row 3", "message": "unknown category 'emu'"}]
    gzipped = SimpleUploadedFile("l.csv", b"\x1f\x8b\x08\x00", content_type="text/csv")  # found by the fuzzer
    r = api_client.post(url, {"file": gzipped, "format": "csv"})
    assert r.status_code == 400 and "Not UTF-8 text" in r.json()["detail"]
    r = api_client.post(url, {"file": upload([(names[0], "cat")]), "format": "csv", "mode": "gold"})
    assert r.status_code == 200 and r.json() == {"matched": 1, "created": 1, "unmatched": 0, "errors": []}
    assert Item.objects.get(pk=items[0].pk).is_gold

    client.force_login(owner)
    page = client.get(f"/projects/{project.slug}/import/")
    assert (
        page.status_code == 200
        and f'href="/projects/{project.slug}/import/"' in client.get(f"/projects/{project.slug}/").content.decode()
    )
    r = client.post(f"/projects/{project.slug}/import/", {"file": upload([(names[2], "dog")]), "format": "csv",
                                                           "mode": "votes", "source": "sheet"})  # fmt: skip
    assert r.status_code == 200 and "1 image(s) matched" in r.content.decode()
    r = client.post(f"/projects/{project.slug}/import/", {"file": upload([(names[2], "yak")]), "format": "csv",
                                                           "mode": "votes", "source": "sheet"})  # fmt: skip
    assert r.status_code == 400 and "unknown category &#x27;yak&#x27;" in r.content.decode()
