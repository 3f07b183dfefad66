"""A file imported under the wrong format (issue 24): a COCO file chosen as "CSV" is a format error, not "0
matched … Not in the project: {"images": …"; no import account is created for an import that holds no vote;
problems are listed in the order of the file."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile

from annotate.exceptions import ServiceError
from labeling.models import Annotation
from labeling.services.imports import ImportFailed, annotations_import
from tests.labeling.imports.test_import_annotations import classify, csv_bytes  # noqa: F401 (fixture)

pytestmark = pytest.mark.django_db


def coco_bytes(names, indent=None) -> bytes:
    doc = {
        "images": [{"id": i, "file_name": n, "width": 40, "height": 30} for i, n in enumerate(names)],
        "annotations": [{"id": 1, "image_id": 0, "category_id": 1}],
        "categories": [{"id": 1, "name": "cat"}],
    }
    return json.dumps(doc, indent=indent).encode()


def imported_accounts() -> list[str]:
    return list(get_user_model().objects.filter(username__startswith="imported-").values_list("username", flat=True))


@pytest.mark.parametrize("indent", [None, 2])
def test_a_coco_file_imported_as_csv_is_a_format_error_and_creates_nothing(classify, client, indent):  # noqa: F811
    project, _, names, owner = classify
    client.force_login(owner)
    upload = SimpleUploadedFile("instances.json", coco_bytes(names, indent), content_type="application/json")
    page = client.post(f"/projects/{project.slug}/import/", {"file": upload, "format": "csv", "mode": "votes",
                                                              "source": "coco"})  # fmt: skip
    body = page.content.decode()
    assert page.status_code == 400
    assert "This file is JSON (a COCO file?), not CSV" in body
    assert "Not in the project:" not in body and "image(s) matched" not in body
    assert imported_accounts() == [] and not Annotation.objects.exists()
    upload.seek(0)
    form = {"file": upload, "format": "csv", "mode": "votes", "source": "coco"}
    zh = client.post(f"/projects/{project.slug}/import/", form, HTTP_ACCEPT_LANGUAGE="zh-Hans")
    assert "这个文件是 JSON（COCO 文件？），不是 CSV" in zh.content.decode()


def test_xml_imported_as_csv_names_voc():
    from labeling.services.imports.parsers import SourceError, parse

    with pytest.raises(SourceError, match="XML \\(a Pascal VOC file\\?\\), not CSV"):
        parse("csv", {"a.csv": b"\xef\xbb\xbf\n<annotation><filename>a.jpg</filename></annotation>"})


def test_nothing_matched_creates_no_import_account(classify):  # noqa: F811
    project, _, _, _ = classify
    result = annotations_import(project=project, fmt="csv", files={"l.csv": csv_bytes([("elsewhere.jpg", "cat")])},
                                mode="votes", source_name="sheet")  # fmt: skip
    assert (result.matched, result.unmatched) == (0, 1)
    assert imported_accounts() == []
    with pytest.raises(ServiceError, match="source name"):  # the name is still checked, before anything is read
        annotations_import(project=project, fmt="csv", files={"l.csv": csv_bytes([])}, source_name="a b")


def test_problems_are_listed_in_file_order(classify):  # noqa: F811
    project, _, names, _ = classify
    data = f"image,label\n{names[0]},emu\nonly-one-cell\n{names[1]},yak\n,cat\n{names[2]},cat\n".encode()
    with pytest.raises(ImportFailed) as failed:
        annotations_import(project=project, fmt="csv", files={"l.csv": data}, mode="votes", source_name="sheet")
    assert [e["entry"] for e in failed.value.result.errors] == ["row 2", "row 3", "row 4", "row 5"]
    assert imported_accounts() == [] and not Annotation.objects.exists()  # rolled back, account included
