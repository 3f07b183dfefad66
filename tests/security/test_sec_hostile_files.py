"""Issue 25, hostile files: each case the probe found (a 500 or a gigabyte string) is now a clear 4xx or a
per-entry error, read through the one bounded reader (annotate/bounded.py). Issue 22 finding 11: gold import
matches plain file names on SQLite too (no regexp_replace), a bad row is reported and the others import."""

from __future__ import annotations

import io
import json
import time
import zipfile

import pytest

from annotate.bounded import BoundedError, Limits, read_json, read_yaml
from annotate.exceptions import ServiceError
from labeling.models import Category, ImageSource, Item
from labeling.services.categories import categories_import
from labeling.services.imports.parsers import SourceError, files_from_upload, parse
from labeling.services.quality import gold_entries_from_json, gold_import, gold_import_file
from tests.helpers.factories import make_project_with_items

pytestmark = pytest.mark.django_db

DEEP_JSON = ("[" * 50_000 + "]" * 50_000).encode()
BIG_NUMBER = "9" * 5000
BIG_FIELD = "x" * 140_000  # over csv's own 131,072 limit


def _yaml_bomb(levels: int = 9) -> str:
    """The probe's ~400 bytes: each line repeats the one before nine times (9**levels characters at the end)."""
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, levels):
        refs = ",".join([f"*a{i - 1}"] * 9)
        lines.append(f"a{i}: &a{i} [{refs}]")
    lines.append(f"names: *a{levels - 1}")
    return "\n".join(lines) + "\n"


def _zip(files: dict[str, str | bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return buf.getvalue()


# --- YOLO data.yaml with aliases: refused at once, never expanded ---------------------------------------------


def test_a_yaml_alias_bomb_in_a_yolo_zip_is_refused_at_once():
    upload = _zip({"data.yaml": _yaml_bomb(), "labels/img0.txt": "0 0.5 0.5 0.2 0.2\n"})
    assert len(_yaml_bomb()) < 700
    started = time.monotonic()
    with pytest.raises(SourceError, match="aliases"):
        parse("yolo", files_from_upload("y.zip", upload))
    assert time.monotonic() - started < 1.0


@pytest.mark.parametrize("text", ["names: " + "[" * 5000 + "]" * 5000, "names: {0: cat, x: dog}",
                                  "names: {0: [a, b]}", "names: {0: cat, 2: dog}",
                                  f"names: {{{BIG_NUMBER}: cat}}", "names: !!python/object:os.system ls"])  # fmt: skip
def test_hostile_yolo_names_are_a_source_error(text):
    with pytest.raises(SourceError):
        parse("yolo", {"data.yaml": text.encode(), "labels/a.txt": b"0 0.5 0.5 0.1 0.1\n"})


def test_plain_yaml_anchors_without_aliases_still_read():
    assert read_yaml("names: &n [cat, dog]\n") == {"names": ["cat", "dog"]}
    with pytest.raises(BoundedError):
        read_yaml("a: &x 1\nb: *x\n")


# --- COCO and CSV annotation imports ----------------------------------------------------------------------------


@pytest.mark.parametrize("field", ["images.id", "annotations.image_id", "annotations.category_id", "categories.id"])
@pytest.mark.parametrize("value", [[1], {"a": 1}, 1.5, None, True])
def test_coco_ids_that_are_lists_or_dicts_are_entry_errors(field, value):
    doc = {
        "images": [{"id": 1, "file_name": "a.jpg"}, {"id": 2, "file_name": "b.jpg"}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 7}, {"id": 2, "image_id": 2, "category_id": 7}],
        "categories": [{"id": 9, "name": "dog"}, {"id": 7, "name": "cat"}],
    }
    part, key = field.split(".")
    doc[part][0][key] = value
    parsed = parse("coco", {"c.json": json.dumps(doc).encode()})
    assert parsed.errors, "the bad id is reported"
    assert any(e.labels == {"cat"} for e in parsed.entries)  # the good entry is still read


@pytest.mark.parametrize("data", [DEEP_JSON, ('{"images": [' + BIG_NUMBER + "]}").encode(), b'{"a": NaN}'])
def test_unreadable_coco_files_are_a_source_error(data):
    with pytest.raises(SourceError):
        parse("coco", {"c.json": data})


def test_a_csv_field_over_the_limit_is_one_row_error():
    rows = f"image,label\na.jpg,cat\n{BIG_FIELD},cat\nb.jpg,dog\n".encode()
    parsed = parse("csv", {"l.csv": rows})
    assert [e.ref for e in parsed.entries] == ["a.jpg", "b.jpg"]
    assert [e.where for e in parsed.errors] == ["row 3"]


def test_import_api_answers_hostile_files_with_400(world, client_as):
    client = client_as("researcher")
    url = "/api/projects/proj-a/imports"
    for name, data, fmt in [("y.zip", _zip({"data.yaml": _yaml_bomb(), "l/a.txt": "0 .5 .5 .1 .1"}), "yolo"),
                            ("c.json", DEEP_JSON, "coco")]:  # fmt: skip
        from django.core.files.uploadedfile import SimpleUploadedFile

        response = client.post(url, {"file": SimpleUploadedFile(name, data), "format": fmt})
        assert response.status_code == 400, (name, response.status_code, response.content[:200])


# --- gold files -------------------------------------------------------------------------------------------------


@pytest.fixture
def verify():
    project, items = make_project_with_items(slug="gold-h", n_items=4, categories=("owl",))
    return project, items


@pytest.mark.parametrize("data", [DEEP_JSON, f'[{{"image": "x", "label": {BIG_NUMBER}}}]'.encode(),
                                  b'[{"image": "x", "label": Infinity}]'])  # fmt: skip
def test_unreadable_gold_json_is_a_service_error_not_a_500(verify, data):
    project, _ = verify
    with pytest.raises(ServiceError) as info:
        gold_import_file(project=project, data=data, filename="g.json")
    assert info.value.code == "invalid_file"


def test_gold_csv_rows_over_the_limit_or_with_huge_labels_are_row_errors(verify):
    project, items = verify
    data = f"image,label\n{items[0].image.sha256},yes\n{BIG_FIELD},yes\nowl/img1.jpg,{BIG_NUMBER}\n".encode()
    summary = gold_import_file(project=project, data=data, filename="g.csv").summary()
    assert summary["created"] == 1
    assert [(e["line"], e["code"]) for e in summary["errors"]] == [(3, "invalid_row"), (4, "invalid_row")]


def test_gold_json_body_with_nul_in_an_image_is_an_entry_error(verify):
    project, items = verify
    entries = gold_entries_from_json([{"image": "owl/\x00img0.jpg", "label": "yes"},
                                      {"image": items[1].image.sha256, "label": "yes"},
                                      {"image": ["a"], "label": {"x": 1}}])  # fmt: skip
    summary = gold_import(project=project, entries=entries).summary()
    assert summary["created"] == 1
    assert [e["code"] for e in summary["errors"]] == ["invalid_image", "missing_image"]


def test_gold_api_body_with_nul_is_answered(world, client_as):
    response = client_as("researcher").post(
        "/api/projects/proj-a/gold/", {"gold": [{"image": "a\x00b", "label": "yes"}]}, content_type="application/json"
    )
    assert response.status_code < 500, response.content[:300]


def test_gold_import_matches_plain_file_names_on_every_database(verify):
    """Issue 22 finding 11: `digit-0816.png` (the demo's names) crashed SQLite with `no such function:
    regexp_replace`; a typo beside it is reported and the good rows import."""
    project, items = verify
    uris = ["data/digits/digit-0816.png", "https://example.org/a/b/photo.jpg?size=large#top", "C:\\scans\\scan 7.png"]
    for item, uri in zip(items, uris, strict=False):
        ImageSource.objects.filter(project=project, image=item.image).update(source_uri=uri)
    data = b"image,label\ndigit-0816.png,yes\nphoto.jpg,no\nscan 7.png,yes\ndigit-0861.png,yes\n"
    summary = gold_import_file(project=project, data=data, filename="g.csv").summary()
    assert (summary["created"], summary["unmatched"]) == (3, 1), summary
    gold = dict(Item.objects.filter(project=project, is_gold=True).values_list("pk", "gold_label"))
    assert gold == {items[0].pk: 1, items[1].pk: 0, items[2].pk: 1}


# --- category files ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("data", [DEEP_JSON, f'[{{"name": "a", "definition": {BIG_NUMBER}}}]'.encode()])
def test_unreadable_category_json_is_a_service_error(verify, data):
    project, _ = verify
    with pytest.raises(ServiceError) as info:
        categories_import(project=project, data=data, filename="c.json")
    assert info.value.code == "invalid_file"


def test_category_csv_row_over_the_limit_and_json_nul_are_row_errors(verify):
    project, _ = verify
    result = categories_import(project=project, data=f"name,definition\nemu,bird\n{BIG_FIELD},x\nyak,ox\n".encode())
    assert result.created == 2 and len(result.errors) == 1 and "longer than" in result.errors[0]
    result = categories_import(project=project, data=b'[{"name": "a\\u0000b"}, {"name": "gnu", "wnid": [1]}]',
                               filename="c.json")  # fmt: skip
    assert result.created == 1 and len(result.errors) == 1
    assert set(Category.objects.filter(project=project).values_list("name", flat=True)) >= {"emu", "yak", "gnu"}


# --- the reader itself ------------------------------------------------------------------------------------------


def test_the_bounded_reader_limits():
    limits = Limits(max_bytes=1000, max_depth=3, max_number_chars=5, max_field_chars=4)
    assert read_json("[[[1]]]", limits) == [[[1]]]
    for text in ("[[[[1]]]]", "[123456]", '["abcdef"]', "[1e999]", "x" * 1001):
        with pytest.raises(BoundedError):
            read_json(text, limits)
    assert read_json('["[[[[", "]]"]', limits) == ["[[[[", "]]"]  # brackets inside strings do not count
