"""Property-based fuzzing (Hypothesis) of every file parser and every form/serializer that takes a file (issue 25).

Inputs are generated hostile documents: random bytes, JSON and YAML values of any shape (COCO-, gold- and
category-shaped too, so the fuzzer gets past the first type check), deep nesting, huge numbers, YAML aliases,
CSV rows with over-long fields, zips of all of these. Properties:

- a parser raises only its own clear error (BoundedError / SourceError / ServiceError), never anything else
  (the annotation, gold and category imports; ingest URL lists and archive listings; the categories text);
- each case takes under `DEADLINE_MS` of CPU time and allocates at most `MAX_PEAK_MB` (tracemalloc) — the YAML alias
  bomb that built gigabyte strings, or a 50,000-deep JSON, would break either;
- over HTTP (the API serializers and the HTML forms for gold, annotation and category files) no case is a 5xx.

Bounded for CI: `FUZZ_FILE_EXAMPLES` examples per property (default 20; three times that over HTTP, spread over
the endpoints); well under a minute in all on two shared cores.
"""

from __future__ import annotations

import csv
import io
import json
import os
import time
import tracemalloc
import zipfile

from django.core.files.uploadedfile import SimpleUploadedFile
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from annotate.bounded import BoundedError, Limits, read_archive, read_csv, read_json, read_xml, read_yaml
from annotate.exceptions import ServiceError
from labeling.services.categories import _rows as category_rows
from labeling.services.imports.parsers import TEXT_SUFFIXES, SourceError, files_from_upload, parse
from labeling.services.quality.gold_import import gold_entries_read

EXAMPLES = int(os.environ.get("FUZZ_FILE_EXAMPLES", "20"))
HTTP_EXAMPLES = 3 * EXAMPLES  # spread over the seven endpoints
DEADLINE_MS = 3000  # CPU milliseconds per case (the worst today: ~0.25 s, a long plain YAML scalar)
MAX_PEAK_MB = 64
FUZZ = settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
                suppress_health_check=list(HealthCheck))  # fmt: skip

# --- hostile documents --------------------------------------------------------------------------------------

ODD = ["²", "\x00", "a\x00b", "-1", "9" * 400, "yes", "img0.jpg", "owl", "../x", "é"]
scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=30),
                    st.sampled_from(ODD))  # fmt: skip
values = st.recursive(scalars, lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=8), c, max_size=4),
                      max_leaves=24)  # fmt: skip
coco = st.fixed_dictionaries({
    "images": st.lists(st.fixed_dictionaries({"id": values, "file_name": values}), max_size=4),
    "annotations": st.lists(st.fixed_dictionaries({"id": values, "image_id": values, "category_id": values,
                                                   "bbox": values}), max_size=4),
    "categories": st.lists(st.fixed_dictionaries({"id": values, "name": values}), max_size=3),
})  # fmt: skip
rows = st.lists(st.fixed_dictionaries({"image": values, "label": values, "name": values, "parent": values,
                                       "category": values, "boxes": values}), max_size=5)  # fmt: skip


def _deep(n: int) -> bytes:
    return b"[" * n + b"]" * n


def _yaml_bomb(levels: int) -> bytes:
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    lines += [f"a{i}: &a{i} [{','.join([f'*a{i - 1}'] * 9)}]" for i in range(1, levels)]
    return ("\n".join([*lines, f"names: *a{levels - 1}"]) + "\n").encode()


def _csv(table: list[list[str]]) -> bytes:
    buf = io.StringIO()
    csv.writer(buf).writerows(table)
    return buf.getvalue().encode("utf-8", errors="surrogatepass")


documents = st.one_of(
    st.binary(max_size=3000),
    values.map(lambda v: json.dumps(v).encode()),
    coco.map(lambda v: json.dumps(v).encode()),
    rows.map(lambda v: json.dumps(v).encode()),
    st.integers(1, 60_000).map(_deep),
    st.integers(1, 6000).map(lambda n: b'[{"image": "a", "label": ' + b"9" * n + b"}]"),
    st.integers(1, 14).map(_yaml_bomb),
    st.integers(1, 3000).map(lambda n: b"names: " + b"[" * n + b"]" * n),
    st.lists(st.lists(st.text(max_size=12), max_size=4), max_size=8).map(_csv),
    st.integers(60_000, 300_000).map(lambda n: b"image,label\nok.jpg,yes\n" + b"x" * n + b",yes\n"),
    st.sampled_from([b'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY b "c">]><annotation>&b;</annotation>',
                     b"<annotation>" * 3000, b"<annotation><filename>a</filename><object><name>x</name>"
                     b"<bndbox><xmin>1e999</xmin></bndbox></object></annotation>", b"\xef\xbb\xbf\x00"]),
)  # fmt: skip
NAMES = ["data.yaml", "labels/a.txt", "ann.json", "l.csv", "a.xml", "classes.txt", "../evil.txt", "/abs.json"]


@st.composite
def uploads(draw) -> tuple[str, bytes]:
    """(file name, bytes): one document, or a zip of a few under annotation-like names."""
    if draw(st.booleans()):
        return draw(st.sampled_from(["g.json", "g.csv", "c.json", "a.xml", "data.yaml", "x.bin"])), draw(documents)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name in draw(st.lists(st.sampled_from(NAMES), min_size=1, max_size=4, unique=True)):
            zf.writestr(name, draw(documents))
    return "upload.zip", buf.getvalue()


def _bounded(call, allowed: tuple[type[BaseException], ...]) -> None:
    """Run `call`: only `allowed` may escape; time and peak memory per case are bounded."""
    tracemalloc.start()
    started = time.process_time()  # CPU time: other processes on a shared machine do not count
    try:
        call()
    except allowed:
        pass
    finally:
        elapsed_ms = (time.process_time() - started) * 1000
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    assert elapsed_ms < DEADLINE_MS, f"{elapsed_ms:.0f} ms"
    assert peak < MAX_PEAK_MB * 1024 * 1024, f"{peak / 2**20:.0f} MiB"


# --- the parsers, without a database --------------------------------------------------------------------------

LIMITS = Limits(max_bytes=5 * 1024 * 1024)


@FUZZ
@given(data=documents)
def test_the_bounded_reader_raises_only_its_own_error(data):
    _bounded(lambda: read_json(data, LIMITS), (BoundedError,))
    _bounded(lambda: read_yaml(data), (BoundedError,))
    _bounded(lambda: read_xml(data), (BoundedError,))
    text = data.decode("utf-8", errors="replace")
    _bounded(lambda: list(read_csv(text, LIMITS)), (BoundedError,))


@FUZZ
@given(upload=uploads(), fmt=st.sampled_from(["coco", "yolo", "voc", "csv"]))
def test_annotation_parsers_raise_only_source_errors(upload, fmt):
    name, data = upload
    _bounded(lambda: parse(fmt, files_from_upload(name, data)), (SourceError,))
    if name.endswith(".zip"):
        _bounded(lambda: read_archive(data, suffixes=TEXT_SUFFIXES), (BoundedError,))


@FUZZ
@given(upload=uploads())
def test_gold_and_category_readers_raise_only_service_errors(upload):
    name, data = upload
    _bounded(lambda: gold_entries_read(data=data, filename=name), (ServiceError,))
    _bounded(lambda: category_rows(data, name), (ServiceError,))


@FUZZ
@given(upload=uploads())
def test_ingest_url_lists_archives_and_categories_text_raise_only_their_errors(upload, tmp_path_factory):
    """The ingest sources (URL list, archive listing) and the project form's categories text, through
    annotate.bounded too: only SourceError / BoundedError, within the time and memory bounds."""
    from labeling.services.ingestion.sources import SourceError as IngestSourceError
    from labeling.services.ingestion.sources import source_open
    from labeling.services.project_settings import categories_parse

    name, data = upload
    path = tmp_path_factory.mktemp("ingest") / name
    path.write_bytes(data)
    for kind in ("urls", "archive"):

        def listing(kind: str = kind) -> None:
            with source_open(kind, str(path)) as source:
                for _entry in source.entries():  # NUL-bearing entries are batch._entries' to reject
                    pass

        _bounded(listing, (IngestSourceError,))
    _bounded(lambda: categories_parse(data.decode("utf-8", errors="replace")), (BoundedError,))


# --- every form and serializer that takes a file, over HTTP ----------------------------------------------------

FILE_ENDPOINTS = [
    ("api", "/api/projects/proj-a/gold/import", {}),
    ("api", "/api/projects/proj-a/imports", {"format": "coco"}),
    ("api", "/api/projects/proj-a/imports", {"format": "yolo", "mode": "gold"}),
    ("api", "/api/projects/proj-a/categories/import/", {}),
    ("html", "/projects/proj-a/gold/", {}),
    ("html", "/projects/proj-a/import/", {"format": "csv", "mode": "votes", "source": "fuzz"}),
    ("html", "/projects/proj-a/categories/", {"action": "import"}),
]


def test_file_forms_and_serializers_never_answer_5xx(world, client_as):
    from rest_framework.test import APIClient

    api = APIClient()
    api.force_authenticate(world.person("researcher"))
    html = client_as("researcher")

    @settings(FUZZ, max_examples=HTTP_EXAMPLES)
    @given(upload=uploads(), endpoint=st.sampled_from(FILE_ENDPOINTS))
    def run(upload, endpoint):
        (kind, path, fields), (name, data) = endpoint, upload
        field = "import-file" if "categories" in path and kind == "html" else "file"
        started = time.process_time()
        response = (api if kind == "api" else html).post(path, {**fields, field: SimpleUploadedFile(name, data)})
        assert response.status_code < 500, (path, name, data[:120], response.status_code)
        assert (time.process_time() - started) * 1000 < DEADLINE_MS * 2

    run()
