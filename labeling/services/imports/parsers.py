"""Readers of existing annotations (no Django): COCO, YOLO, Pascal VOC and CSV `image,label`, into one shape.

Each reader takes `files`, the text files of the source by relative path (a single file, a folder or a zip, read
by `files_from_path` / `files_from_upload`), and returns `Parsed`: one `Entry` per image with the category names
it shows and its boxes, plus one `ParseError` per bad entry (a bad entry never stops the others being read, so
every problem is reported at once). Boxes are in original-image pixels [x, y, w, h], except YOLO's, which are
normalised centre boxes until the image's size is known (`Entry.normalised`).
"""

from __future__ import annotations

import itertools
import math
import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from annotate.bounded import (
    BoundedError,
    CsvProblem,
    Limits,
    decode_text,
    is_zip,
    read_archive,
    read_csv,
    read_file,
    read_json,
    read_xml,
    read_yaml,
)

FORMATS = ("coco", "yolo", "voc", "csv")
TEXT_SUFFIXES = {".json", ".csv", ".txt", ".xml", ".yaml", ".yml", ".names"}
MAX_TOTAL_BYTES = 200 * 1024 * 1024
MAX_FILES = 200_000
MAX_UPLOAD_BYTES = 100 * 1024 * 1024  # one uploaded file (page, API)
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
LIMITS = Limits(max_bytes=MAX_TOTAL_BYTES)  # depth, number, field and row limits of every file (annotate.bounded)
YAML_LIMITS = Limits(max_bytes=64 * 1024, max_nodes=20_000)  # data.yaml: class names only


class SourceError(ValueError):
    """The source as a whole cannot be read (wrong format, missing class names, too large)."""


_ORDER = itertools.count()  # creation order: each reader creates entries and errors in the order of its file


@dataclass(frozen=True)
class Box:
    x: float
    y: float
    w: float
    h: float
    label: str


@dataclass
class Entry:
    ref: str  # the image as the file names it: a path, a file name, a stem (YOLO) or a SHA-256
    where: str  # for messages: "row 3", "image 12", "labels/a.txt"
    labels: set[str] = field(default_factory=set)
    boxes: list[Box] = field(default_factory=list)
    normalised: bool = False  # YOLO: boxes are (cx, cy, w, h) in 0..1
    sha256: str = ""  # the image's content hash when the file carries it (COCO `images[].sha256`, ours does)
    order: int = field(default_factory=lambda: next(_ORDER))  # problems are listed in file order


@dataclass(frozen=True)
class ParseError:
    where: str
    message: str
    order: int = field(default_factory=lambda: next(_ORDER))


@dataclass
class Parsed:
    entries: list[Entry] = field(default_factory=list)
    errors: list[ParseError] = field(default_factory=list)


# --- reading the source -------------------------------------------------------------------------------------------


def _budget(total: int, count: int) -> None:
    if total > MAX_TOTAL_BYTES or count > MAX_FILES:
        raise SourceError(f"The source is too large (at most {MAX_FILES} files, {MAX_TOTAL_BYTES >> 20} MiB of text).")


def files_from_path(path: Path) -> dict[str, bytes]:
    """A file (a zip is opened), or every annotation-like text file under a folder, by path relative to it."""
    if path.is_file():
        try:
            data = read_file(path, MAX_UPLOAD_BYTES, what=path.name)
        except BoundedError as exc:
            raise SourceError(exc.message) from exc
        return files_from_upload(path.name, data) if is_zip(data) else {path.name: data}
    if not path.is_dir():
        raise SourceError(f"{path} is neither a file nor a folder.")
    out: dict[str, bytes] = {}
    total = 0
    for p in sorted(path.rglob("*")):
        if p.is_file() and not p.is_symlink() and p.suffix.lower() in TEXT_SUFFIXES:
            try:
                data = read_file(p, MAX_TOTAL_BYTES - total, what=p.name)
            except BoundedError as exc:
                raise SourceError(f"The source is too large (at most {MAX_TOTAL_BYTES >> 20} MiB of text).") from exc
            total += len(data)
            _budget(total, len(out) + 1)
            out[p.relative_to(path).as_posix()] = data
    return out


def files_from_upload(name: str, data: bytes) -> dict[str, bytes]:
    """An uploaded file: a zip's text members (counts and sizes checked before reading: no zip bombs; through
    annotate.bounded), or the file itself."""
    if not is_zip(data):
        return {PurePosixPath(name).name or "upload": data}
    try:
        return read_archive(data, suffixes=TEXT_SUFFIXES, max_files=MAX_FILES, max_total_bytes=MAX_TOTAL_BYTES)
    except BoundedError as exc:
        raise SourceError(exc.message) from exc


def _text(data: bytes) -> str:
    try:
        return decode_text(data, LIMITS)
    except BoundedError as exc:  # e.g. a .gz or an image posted as CSV: a clear 400, never a 500
        raise SourceError(f"{exc.message} Upload the file itself, uncompressed.") from exc


def _key(value: object) -> object:
    """A JSON id usable as a dict key: an int or a string; anything else (a list, a dict, a float) is None."""
    return value if isinstance(value, int | str) and not isinstance(value, bool) else None


def _finite(*values: object) -> bool:
    return all(isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in values)


class WrongFormat(SourceError):
    """The file is plainly another format than the one chosen (`found`: "coco", "json" or "voc")."""

    def __init__(self, found: str, chosen: str) -> None:
        what = {"coco": "JSON (a COCO file?)", "json": "JSON", "voc": "XML (a Pascal VOC file?)"}[found]
        super().__init__(f"This file is {what}, not {chosen}: choose its format, or upload the {chosen} file.")
        self.found, self.chosen = found, chosen


def _not_another_format(text: str, chosen: str) -> None:
    """A file of another format read as `chosen` would give nonsense rows ('{"images": [' as an image name, 0
    matched): say which format the file is instead."""
    found = {"{": "coco", "[": "json", "<": "voc"}.get(text.lstrip("\ufeff \t\r\n")[:1])
    if found:
        raise WrongFormat(found, chosen)


# --- CSV ----------------------------------------------------------------------------------------------------------


def parse_csv(files: dict[str, bytes]) -> Parsed:
    """`image,label` rows (a header row with those names is optional); several rows for one image = several labels;
    an empty label = the image shows none of the categories."""
    sources = [k for k in files if k.lower().endswith(".csv")] or list(files)
    if len(sources) != 1:
        raise SourceError("A CSV import is one .csv file with image,label rows.")
    text = _text(files[sources[0]])
    _not_another_format(text, "CSV")
    out, by_ref = Parsed(), {}
    first = True
    for row in read_csv(text, LIMITS):
        if isinstance(row, CsvProblem):
            out.errors.append(ParseError(f"row {row.line}", row.message))
            continue
        n, cells = row.line, row.cells
        if first and [c.strip().lower() for c in cells[:2]] == ["image", "label"]:
            first = False
            continue  # the header
        first = False
        if not cells or not any(c.strip() for c in cells):
            continue
        if len(cells) < 2 or not cells[0].strip():
            out.errors.append(ParseError(f"row {n}", "expected image,label"))
            continue
        ref, label = cells[0].strip(), cells[1].strip()
        entry = by_ref.get(ref)
        if entry is None:
            entry = by_ref[ref] = Entry(ref=ref, where=f"row {n}")
            out.entries.append(entry)
        if label:
            entry.labels.add(label)
    return out


# --- COCO ---------------------------------------------------------------------------------------------------------


def parse_coco(files: dict[str, bytes]) -> Parsed:
    """A COCO instances file: `categories` name the classes, each annotation adds its category (and its `bbox`,
    [x, y, w, h] in pixels) to its image; an image without annotations shows none of the categories."""
    sources = [k for k in files if k.lower().endswith(".json")] or list(files)
    if len(sources) != 1:
        raise SourceError("A COCO import is one JSON file (images, annotations, categories).")
    try:
        doc = read_json(_text(files[sources[0]]), LIMITS)
    except BoundedError as exc:
        raise SourceError(f"Not a readable JSON file: {exc.message}") from exc
    if not isinstance(doc, dict) or not all(
        isinstance(doc.get(k), list) for k in ("images", "annotations", "categories")
    ):
        raise SourceError("A COCO file needs the lists images, annotations and categories.")
    out = Parsed()
    names: dict[object, str] = {}
    for i, c in enumerate(doc["categories"]):
        if not isinstance(c, dict) or _key(c.get("id")) is None or not isinstance(c.get("name"), str):
            out.errors.append(ParseError(f"category {i}", "a category needs an id (a number or text) and a name"))
            continue
        names[_key(c["id"])] = c["name"].strip()
    images: dict[object, Entry] = {}
    for i, img in enumerate(doc["images"]):
        ref = img.get("file_name") if isinstance(img, dict) else None
        image_id = _key(img.get("id")) if isinstance(img, dict) else None
        if not isinstance(ref, str) or not ref.strip() or image_id is None:
            out.errors.append(ParseError(f"image {i}", "an image needs an id (a number or text) and a file_name"))
            continue
        sha = img.get("sha256")
        sha = sha.strip().lower() if isinstance(sha, str) and _SHA256.match(sha.strip().lower()) else ""
        images[image_id] = entry = Entry(ref=ref.strip(), where=f"image {image_id} ({ref.strip()[:200]})", sha256=sha)
        out.entries.append(entry)
    for i, ann in enumerate(doc["annotations"]):
        where = f"annotation {_key(ann.get('id')) or i if isinstance(ann, dict) else i}"
        image_id = _key(ann.get("image_id")) if isinstance(ann, dict) else None
        if image_id not in images:
            out.errors.append(ParseError(where, "refers to no image of the file"))
            continue
        name = names.get(_key(ann.get("category_id")))
        if not name:
            out.errors.append(ParseError(where, f"unknown category_id {str(ann.get('category_id'))[:40]!r}"))
            continue
        entry = images[image_id]
        entry.labels.add(name)
        bbox = ann.get("bbox")
        if bbox is not None:
            if not (isinstance(bbox, list) and len(bbox) == 4 and _finite(*bbox)) or bbox[2] <= 0 or bbox[3] <= 0:
                out.errors.append(ParseError(where, f"bbox must be [x, y, w, h] with w, h > 0, not {str(bbox)[:80]}"))
                continue
            entry.boxes.append(Box(*(float(v) for v in bbox), label=name))
    return out


# --- YOLO ---------------------------------------------------------------------------------------------------------


def _yolo_names(files: dict[str, bytes]) -> list[str]:
    for key in sorted(files, key=lambda k: (k.count("/"), k)):
        if key.lower().endswith((".yaml", ".yml")):
            try:
                doc = read_yaml(files[key], YAML_LIMITS, what=key)
            except BoundedError as exc:
                raise SourceError(f"{key}: {exc.message}") from exc
            names = doc.get("names") if isinstance(doc, dict) else None
            if isinstance(names, dict):
                if not all(isinstance(k, int) and not isinstance(k, bool) and 0 <= k < 100_000 for k in names):
                    raise SourceError(f"{key}: names must map class indices 0, 1, 2 ... to names.")
                if sorted(names) != list(range(len(names))):
                    raise SourceError(f"{key}: class indices must be 0 to {len(names) - 1} without gaps.")
                return [_yolo_name(key, names[k]) for k in sorted(names)]
            if isinstance(names, list):
                return [_yolo_name(key, n) for n in names]
    for key in sorted(files, key=lambda k: (k.count("/"), k)):
        if PurePosixPath(key).name.lower() in ("classes.txt", "obj.names", "classes.names"):
            return [line.strip() for line in _text(files[key]).splitlines() if line.strip()]
    raise SourceError("A YOLO import needs its class names: data.yaml (names: [...]) or classes.txt.")


def _yolo_name(key: str, value: object) -> str:
    """A class name is a scalar (text or number), never a list or a mapping."""
    if isinstance(value, dict | list | set | tuple) or value is None:
        raise SourceError(f"{key}: every class name must be a text, not {type(value).__name__}.")
    return str(value).strip()


def parse_yolo(files: dict[str, bytes]) -> Parsed:
    """One `<image stem>.txt` per image (under labels/ or anywhere), lines `class cx cy w h` normalised to 0..1;
    class indices name classes through data.yaml or classes.txt. An empty file = no object."""
    names = _yolo_names(files)
    out = Parsed()
    for key in sorted(files):
        p = PurePosixPath(key)
        if p.suffix.lower() != ".txt" or p.name.lower() in ("classes.txt",):
            continue
        entry = Entry(ref=p.stem, where=key, normalised=True)
        out.entries.append(entry)
        for n, line in enumerate(_text(files[key]).splitlines(), start=1):
            parts = line.split()
            if not parts:
                continue
            try:
                cls, cx, cy, w, h = int(parts[0]), *(float(v) for v in parts[1:5])
            except (ValueError, TypeError):
                cls, cx = -1, None
            if len(parts) != 5 or cx is None or not (0 <= cls < len(names)):
                out.errors.append(
                    ParseError(f"{key}:{n}", f"expected `class cx cy w h` with class 0..{len(names) - 1}")
                )
                continue
            if not (_finite(cx, cy, w, h) and 0 <= cx <= 1 and 0 <= cy <= 1 and 0 < w <= 1 and 0 < h <= 1):
                out.errors.append(ParseError(f"{key}:{n}", "coordinates must be normalised to 0..1"))
                continue
            entry.labels.add(names[cls])
            entry.boxes.append(Box(cx, cy, w, h, names[cls]))
    return out


# --- Pascal VOC ---------------------------------------------------------------------------------------------------


def parse_voc(files: dict[str, bytes]) -> Parsed:
    """One XML `<annotation>` per image: `<filename>`, and per `<object>` its `<name>` and `<bndbox>` (xmin, ymin,
    xmax, ymax: VOC's 1-based, inclusive pixels, so x = xmin - 1 and w = xmax - xmin + 1, as the `voc` export
    writes them). Parsed with defusedxml (no entities)."""
    out = Parsed()
    xmls = [k for k in sorted(files) if k.lower().endswith(".xml")]
    if not xmls:
        raise SourceError("A VOC import is one XML file per image (a folder or a zip of them).")
    for key in xmls:
        try:
            root = read_xml(files[key], what=key)
        except BoundedError as exc:
            out.errors.append(ParseError(key, exc.message))
            continue
        ref = (root.findtext("filename") or "").strip()
        if root.tag != "annotation" or not ref:
            out.errors.append(ParseError(key, "expected <annotation> with a <filename>"))
            continue
        entry = Entry(ref=ref, where=key)
        out.entries.append(entry)
        for i, obj in enumerate(root.findall("object"), start=1):
            name = (obj.findtext("name") or "").strip()
            if not name:
                out.errors.append(ParseError(f"{key} object {i}", "an object needs a <name>"))
                continue
            entry.labels.add(name)
            bb = obj.find("bndbox")
            if bb is None:
                continue
            try:
                x1, y1, x2, y2 = (float(bb.findtext(t) or "nan") for t in ("xmin", "ymin", "xmax", "ymax"))
            except ValueError:
                x1 = y1 = x2 = y2 = math.nan
            if not _finite(x1, y1, x2, y2) or x2 <= x1 or y2 <= y1:
                out.errors.append(ParseError(f"{key} object {i}", "bndbox needs xmin < xmax and ymin < ymax"))
                continue
            entry.boxes.append(Box(x1 - 1, y1 - 1, x2 - x1 + 1, y2 - y1 + 1, name))
    return out


PARSERS = {"coco": parse_coco, "yolo": parse_yolo, "voc": parse_voc, "csv": parse_csv}


def parse(fmt: str, files: dict[str, bytes]) -> Parsed:
    if fmt not in PARSERS:
        raise SourceError(f"Unknown format {fmt!r}; use one of {', '.join(FORMATS)}.")
    if not files:
        raise SourceError("The source holds no annotation file.")
    try:
        return PARSERS[fmt](files)
    except BoundedError as exc:  # e.g. more rows than the limit: the whole file is refused
        raise SourceError(exc.message) from exc
