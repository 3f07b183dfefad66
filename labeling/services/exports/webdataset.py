"""`webdataset`: a tar holding shards `{split}-{n:06d}.tar` of at most `shard_mb` MB each, plus
`shards.json` (the shard names per split), `classes.json` and `README.md` (the card).

Each sample is `{image_id:09d}.jpg` (`.png` ... for other formats), `{key}.cls` (class index as text) and
`{key}.json` (the full record). Load a split with
`webdataset.WebDataset("train-{000000..000003}.tar").decode("pil").to_tuple("jpg", "cls")`.

A shard is written to a temporary file and appended to the outer tar once closed, so memory stays
bounded by one sample; disk use is the export plus one shard.
"""

from __future__ import annotations

import json
import tempfile
from typing import IO, Any

from annotate.conf import options
from labeling.algorithms.splits import SPLIT_NAMES
from labeling.models import DatasetVersion
from labeling.services.exports.base import (
    Progress,
    TarStream,
    classes_json,
    image_extension,
    iter_rows,
    member_size,
    read_image,
    record_json,
    version_mtime,
)

EXTENSION = ".tar"
CONTENT_TYPE = "application/x-tar"


def default_shard_mb() -> float:
    return options().EXPORT_SHARD_MB


class _ShardWriter:
    """Samples of one split into `{split}-{n:06d}.tar` temporary files, each moved into the outer tar when full."""

    def __init__(self, outer: TarStream, split: str, limit: int, mtime: int) -> None:
        self.outer, self.split, self.limit, self.mtime = outer, split, limit, mtime
        self.index, self.names = 0, []
        self.file: IO[bytes] | None = None
        self.tar: TarStream | None = None

    def add(self, key: str, ext: str, image: bytes, record: bytes, cls: bytes) -> None:
        need = member_size(len(image)) + member_size(len(record)) + member_size(len(cls))
        if self.tar is not None and self.tar.written + need + 2 * 512 > self.limit:
            self.close()
        if self.tar is None:
            self.file = tempfile.TemporaryFile()  # noqa: SIM115 - closed in close()
            self.tar = TarStream(self.file, self.mtime)
        self.tar.add_bytes(f"{key}{ext}", image)
        self.tar.add_bytes(f"{key}.cls", cls)
        self.tar.add_bytes(f"{key}.json", record)

    def close(self) -> None:
        if self.tar is None or self.file is None:
            return
        # End the shard with the two zero blocks only (no record padding), so size <= limit holds exactly.
        self.file.write(b"\0" * 1024)
        size = self.file.tell()
        self.file.seek(0)
        name = f"{self.split}-{self.index:06d}.tar"
        self.outer.add_file(name, self.file, size)
        self.file.close()
        self.names.append(name)
        self.index += 1
        self.tar = self.file = None


def write(version: DatasetVersion, out: IO[bytes], progress: Progress, options: dict[str, Any]) -> int:
    mtime = version_mtime(version)
    n_classes = len(version.classes)
    limit = int(float(options.get("shard_mb") or default_shard_mb()) * 1024 * 1024)
    count, total = 0, max(version.items_count, 1)
    outer = TarStream(out, mtime)
    outer.add_bytes("README.md", version.card.encode())
    outer.add_bytes("classes.json", classes_json(version))
    writers = {s: _ShardWriter(outer, s, limit, mtime) for s in SPLIT_NAMES}
    current = None
    # sha256 order: a deterministic shuffle, so a shard mixes classes.
    for row in iter_rows(version, ("split", "image_sha256")):
        writer = writers[row.split]
        if current is not None and current is not writer:
            current.close()
        current = writer
        writer.add(f"{row.image_id:09d}", image_extension(row.format), read_image(row),
                   record_json(row, n_classes).encode(), str(row.class_index).encode())  # fmt: skip
        count += 1
        if count % 200 == 0:
            progress(count / total)
    for writer in writers.values():
        writer.close()
    shards = {s: w.names for s, w in writers.items()}
    outer.add_bytes("shards.json", json.dumps(shards, indent=1).encode())
    outer.close()
    return count
