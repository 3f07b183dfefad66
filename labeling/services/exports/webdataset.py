"""`webdataset`: a tar holding shards `{split}-{n:06d}.tar` of at most `shard_mb` MB each, plus
`shards.json` (the shard names per split), `classes.json` and `README.md` (the card).

Each sample is `{image_id:09d}.jpg` (`.png` ... for other formats), `{key}.cls` (class index as text) and
`{key}.json` (the full record). Load a split with
`webdataset.WebDataset("train-{000000..000003}.tar").decode("pil").to_tuple("jpg", "cls")`.

Shards are written straight into the outer tar: a shard's header block is reserved, its samples follow, and
the header is written into the reserved block once the shard's size is known (the export is a temporary
file, which seeks). Memory stays bounded by the read-ahead of `read_images`, disk use is the export. An
output that cannot seek gets the old way: each shard in a temporary file, copied in once closed.
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
    read_images,
    record_json,
    version_mtime,
)

EXTENSION = ".tar"
CONTENT_TYPE = "application/x-tar"


def default_shard_mb() -> float:
    return options().EXPORT_SHARD_MB


class _ShardWriter:
    """Samples of one split into `{split}-{n:06d}.tar` members of the outer tar, a new one when full."""

    def __init__(self, outer: TarStream, split: str, limit: int, mtime: int) -> None:
        self.outer, self.split, self.limit, self.mtime = outer, split, limit, mtime
        self.in_place = outer.out.seekable()
        self.index, self.names = 0, []
        self.file: IO[bytes] | None = None
        self.tar: TarStream | None = None
        self.start = 0

    def add(self, key: str, ext: str, image: bytes, record: bytes, cls: bytes) -> None:
        need = member_size(len(image)) + member_size(len(record)) + member_size(len(cls))
        if self.tar is not None and self.tar.written + need + 2 * 512 > self.limit:
            self.close()
        if self.tar is None:
            if self.in_place:
                self.file = self.outer.out
                self.start = self.outer.reserve()
            else:
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
        size = self.tar.written + 1024
        name = f"{self.split}-{self.index:06d}.tar"
        if self.in_place:
            self.outer.finish(self.start, name, size)
        else:
            self.file.seek(0)
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
    for row, image in read_images(iter_rows(version, ("split", "image_sha256"))):
        writer = writers[row.split]
        if current is not None and current is not writer:
            current.close()  # one shard open at a time: an in-place shard is a contiguous run of the outer tar
        current = writer
        writer.add(f"{row.image_id:09d}", image_extension(row.format), image,
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
