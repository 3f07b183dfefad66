"""What every export format shares: row iteration, the per-image record, safe paths, a tar stream writer.

Rows are read with `values_list` (no model instances) and their JSON columns as the database's JSON text,
spliced into the output unparsed: the per-row cost is what makes an export keep up with `tar -cf`.
"""

from __future__ import annotations

import json
import os
import tarfile
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import IO, Any

from django.core.files.storage import default_storage
from django.db.models import F, TextField
from django.db.models.functions import Cast

from labeling.models import Category, DatasetVersion, DatasetVersionItem
from labeling.services.dataset_integrity import dataset_version_verify

Progress = Callable[[float], None]  # called with the fraction done, 0..1

_EXTENSIONS = {"JPEG": ".jpg", "PNG": ".png", "WEBP": ".webp", "GIF": ".gif", "BMP": ".bmp", "TIFF": ".tif"}
_CSV_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
CHUNK = 2000
_BLOCK = tarfile.BLOCKSIZE
_RECORD = tarfile.RECORDSIZE


@dataclass(slots=True)
class Row:
    image_id: int
    split: str
    class_index: int
    label_name: str
    posterior: float | None
    image_sha256: str
    cluster_id: int
    is_gold: bool
    n_votes: int
    source_uri: str
    license: str
    attribution: str
    file: str
    format: str
    width: int
    height: int
    size_bytes: int
    votes_json: str
    soft_label_json: str
    annotators_json: str
    boxes_json: str

    @property
    def boxes(self) -> list[list[float]]:
        return json.loads(self.boxes_json)

    @property
    def annotators(self) -> list[str]:
        return json.loads(self.annotators_json)


_FIELDS = ("image_id", "split", "class_index", "label_name", "posterior", "image_sha256", "cluster_id", "is_gold",
           "n_votes", "source_uri", "license", "attribution", "image__file", "image__format", "image__width",
           "image__height", "image__size_bytes")  # fmt: skip
_JSON = ("votes", "soft_label", "annotators", "boxes")


def image_extension(fmt: str) -> str:
    """File extension from the decoded format recorded at ingest (never from a user-supplied name)."""
    return _EXTENSIONS.get((fmt or "").upper(), ".img")


def class_folder(index: int, n_classes: int) -> str:
    """Zero-padded class index: ImageFolder's sorted folder order equals our class order."""
    return str(index).zfill(max(3, len(str(max(n_classes - 1, 0)))))


BACKGROUND_FOLDER = "background"


def relative_path(row: Row, n_classes: int, folders: Sequence[str] | None = None) -> str:
    """`split/class_index/image_id.ext` -- ids only, so no traversal and no user-controlled names. `folders`
    (class index -> folder, see `imagefolder.class_folders`) replaces the index folders. An image without a
    class (a detection version's background image, class_index -1) is `background/split/image_id.ext`:
    outside the split's class folders, so ImageFolder never reads it as a class."""
    if row.class_index < 0:
        return f"{BACKGROUND_FOLDER}/{row.split}/{row.image_id}{image_extension(row.format)}"
    folder = folders[row.class_index] if folders is not None else class_folder(row.class_index, n_classes)
    return f"{row.split}/{folder}/{row.image_id}{image_extension(row.format)}"


def iter_rows(version: DatasetVersion, order: tuple[str, ...] = ("split", "class_index", "image_id")) -> Iterator[Row]:
    """The version's rows, after checking them against the version's content hash (`version_corrupt`)."""
    dataset_version_verify(version=version)
    qs = (
        DatasetVersionItem.objects.filter(version=version)
        .order_by(*order)
        .values_list(*_FIELDS, *(Cast(F(j), TextField()) for j in _JSON))
    )
    for values in qs.iterator(chunk_size=CHUNK):
        yield Row(*values)


def record_json(row: Row, n_classes: int, folders: Sequence[str] | None = None) -> str:
    """The per-image JSON record shared by jsonl, metadata.jsonl and the webdataset .json (one line)."""
    d = json.dumps
    return (
        f'{{"file_name":"{relative_path(row, n_classes, folders)}","image_id":{row.image_id},'
        f'"sha256":"{row.image_sha256}",'
        f'"split":"{row.split}","label":{d(row.label_name, ensure_ascii=False)},"label_index":{row.class_index},'
        f'"posterior":{"null" if row.posterior is None else repr(row.posterior)},"votes":{row.votes_json},'
        f'"n_votes":{row.n_votes},'
        f'"soft_label":{row.soft_label_json},"annotators":{row.annotators_json},"boxes":{row.boxes_json},'
        f'"is_gold":{"true" if row.is_gold else "false"},"cluster_id":{row.cluster_id},"width":{row.width},'
        f'"height":{row.height},'
        f'"source_uri":{d(row.source_uri, ensure_ascii=False)},"license":{d(row.license, ensure_ascii=False)},'
        f'"attribution":{d(row.attribution, ensure_ascii=False)}}}'
    )


def neutralise_cell(value: Any) -> Any:
    """CSV/formula injection (OWASP): a text cell starting with = + - @ TAB CR gets a leading quote."""
    if isinstance(value, str) and value.startswith(_CSV_TRIGGERS):
        return "'" + value
    return value


def dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def read_image(row: Row) -> bytes:
    """One image's bytes (bounded by the ingest size limit); a local path when the storage has one."""
    try:
        path = default_storage.path(row.file)
    except NotImplementedError:
        with default_storage.open(row.file, "rb") as fh:
            return fh.read()
    return _read_local(path)


def _read_local(path: str) -> bytes:
    """open + fstat + read + close: a third cheaper than `open(path, "rb").read()` for small files."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    try:
        size = os.fstat(fd).st_size
        parts = [os.read(fd, size)] if size else []
        while True:  # a short read, or a file that grew: read to the end
            more = os.read(fd, 1 << 20)
            if not more:
                break
            parts.append(more)
    finally:
        os.close(fd)
    return parts[0] if len(parts) == 1 else b"".join(parts)


READ_AHEAD_BYTES = 64 * 1024 * 1024


def read_images(
    rows: Iterable[Row], *, threads: int = 4, batch: int = 16, ahead: int = 8, max_bytes: int = READ_AHEAD_BYTES
) -> Iterator[tuple[Row, bytes]]:
    """`(row, read_image(row))` in the rows' order, the files read by a few threads ahead of the writer.

    Opening and reading a file wait on the disk (or the network, for an object store) with the GIL
    released, so the reads overlap each other and the formatting. A thread reads `batch` files per task:
    one hand-over per image cost more than reading a small cached file. At most `ahead` batches and at
    most `max_bytes` of image files (their recorded sizes; at least one batch) are in flight, however large
    the export and its images: 128 batches of 50 MB TIFFs are not held at once."""
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="export-read") as pool:
        window: deque[tuple[list[Row], Future[list[bytes]]]] = deque()
        in_flight = 0
        for chunk in _batches(rows, batch):
            window.append((chunk, pool.submit(_read_all, chunk)))
            in_flight += sum(r.size_bytes for r in chunk)
            while window and (len(window) >= ahead or in_flight > max_bytes):
                first, data = window.popleft()
                in_flight -= sum(r.size_bytes for r in first)
                yield from zip(first, data.result(), strict=True)
        while window:
            first, data = window.popleft()
            yield from zip(first, data.result(), strict=True)


def _batches(rows: Iterable[Row], size: int) -> Iterator[list[Row]]:
    chunk: list[Row] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _read_all(rows: list[Row]) -> list[bytes]:
    return [read_image(row) for row in rows]


def _ustar_template() -> bytes:
    h = bytearray(_BLOCK)
    h[100:108] = b"0000644\0"  # mode
    h[108:116] = h[116:124] = b"0000000\0"  # uid, gid
    h[148:156] = b" " * 8  # checksum field counts as spaces
    h[156:157] = tarfile.REGTYPE
    h[257:265] = b"ustar\x0000"  # POSIX magic + version
    h[329:337] = h[337:345] = b"0000000\0"  # devmajor, devminor
    return bytes(h)


_USTAR_TEMPLATE = _ustar_template()


class TarStream:
    """A minimal streaming USTAR writer: header, data, padding; nothing seeks, nothing is kept in memory.
    Names are ASCII ids, so USTAR (no PAX headers) always fits and is cheaper per member."""

    def __init__(self, out: IO[bytes], mtime: int) -> None:
        self.out, self.mtime, self.written = out, mtime, 0

    def _header(self, name: str, size: int) -> bytes:
        raw = name.encode()
        if len(raw) > 100 or size >= 8**11 or not raw.isascii():  # beyond the fast path: let tarfile do it
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = size, self.mtime, 0o644
            return info.tobuf(tarfile.GNU_FORMAT, "utf-8", "strict")
        h = bytearray(_USTAR_TEMPLATE)
        h[0 : len(raw)] = raw
        h[124:136] = b"%011o\0" % size
        h[136:148] = b"%011o\0" % self.mtime
        h[148:156] = b"%06o\0 " % sum(h)
        return bytes(h)

    def add_bytes(self, name: str, data: bytes) -> None:
        pad = -len(data) % _BLOCK
        self.out.write(self._header(name, len(data)) + data + b"\0" * pad)
        self.written += _BLOCK + len(data) + pad

    def add_file(self, name: str, fh: IO[bytes], size: int) -> None:
        self.out.write(self._header(name, size))
        remaining = size
        while remaining:
            chunk = fh.read(min(remaining, 1024 * 1024))
            if not chunk:
                raise OSError(f"{name}: file shorter than its declared size")
            self.out.write(chunk)
            remaining -= len(chunk)
        pad = -size % _BLOCK
        self.out.write(b"\0" * pad)
        self.written += _BLOCK + size + pad

    def reserve(self) -> int:
        """Start a member whose size is known only once it is written (`finish`); the output must seek."""
        position = self.out.tell()
        self.out.write(b"\0" * _BLOCK)
        return position

    def finish(self, position: int, name: str, size: int) -> None:
        """End the member started at `position`: pad it, then write its header in the reserved block."""
        header = self._header(name, size)
        if len(header) != _BLOCK:
            raise ValueError(f"{name}: a reserved member needs a short ASCII name")
        pad = -size % _BLOCK
        self.out.write(b"\0" * pad)
        end = self.out.tell()
        self.out.seek(position)
        self.out.write(header)
        self.out.seek(end)
        self.written += _BLOCK + size + pad

    def close(self) -> None:
        end = 2 * _BLOCK
        self.out.write(b"\0" * (end + (-(self.written + end) % _RECORD)))
        self.written += end + (-(self.written + end) % _RECORD)


def member_size(size: int) -> int:
    return _BLOCK + size + (-size % _BLOCK)


def version_mtime(version: DatasetVersion) -> int:
    return int(version.created_at.timestamp())


def class_wnids(version: DatasetVersion) -> list[str | None]:
    """Each class's WordNet id in index order (None when none): snapshotted in the version since wnids were
    recorded there; for older versions, read from the categories."""
    if all("wnid" in c for c in version.classes):
        return [c["wnid"] or None for c in version.classes]
    ids = [c.get("category_id") for c in version.classes]
    wnids = dict(Category.objects.filter(pk__in=[i for i in ids if i]).values_list("pk", "wnid"))
    return [wnids.get(i) or None for i in ids]


def classes_json(version: DatasetVersion, folders: Sequence[str] | None = None) -> bytes:
    """`[{"index": 0, "name": "tench", "wnid": "n01440764"}, ...]` in class-index order (wnid null when the
    category has none); with `folders`, each class's folder in the export too."""
    rows = []
    for c, wnid in zip(version.classes, class_wnids(version), strict=True):
        row = {"index": c["index"], "name": c["name"], "wnid": wnid}
        if "in_version" in c:  # the append-only class index: every slot is listed, present here or not
            row["in_version"], row["retired"] = c["in_version"], c["retired"]
        if folders is not None:
            row["folder"] = folders[c["index"]]
        rows.append(row)
    return json.dumps(rows, ensure_ascii=False, indent=1).encode()
