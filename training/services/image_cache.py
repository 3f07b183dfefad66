"""Stored images as local files for a worker that has no copy of them (a gpu host reading from S3).

Local-disk storage is read in place. Otherwise the files are fetched into `VAR_DIR/cache/images/`, under
their storage name (content-addressed: a name's bytes never change, so a cached file never goes stale), and
the cache is trimmed to `ANNOTATE_WORKER_IMAGE_CACHE_MB` by dropping the least recently used files after
each fetch -- never a file of the batch being read. Predictions run again after every training run over the
same open items, so the second run reads the images from disk. With the limit at 0 a batch is fetched into a
temporary directory and dropped after use.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings
from django.core.files.storage import default_storage

from annotate.conf import options

_CHUNK = 1 << 20


def cache_dir() -> Path:
    return Path(settings.VAR_DIR) / "cache" / "images"


@contextmanager
def local_image_paths(files: dict[int, str]) -> Iterator[dict[int, str]]:
    """image id -> a local path of its stored file (`files`: image id -> storage name), valid inside the block."""
    try:
        yield {image_id: default_storage.path(name) for image_id, name in files.items()}
        return
    except NotImplementedError:
        pass
    limit = options().WORKER_IMAGE_CACHE_MB * 1024 * 1024
    if limit <= 0:
        with tempfile.TemporaryDirectory(prefix="images-") as tmp:
            yield {image_id: str(_fetch(name, Path(tmp) / str(image_id))) for image_id, name in files.items()}
        return
    root = cache_dir()
    paths = {image_id: _cached(root, name) for image_id, name in files.items()}
    cache_trim(root, limit, keep={str(p) for p in paths.values()})
    yield {image_id: str(path) for image_id, path in paths.items()}


def cache_trim(root: Path, limit: int, *, keep: set[str]) -> int:
    """Delete least-recently-used files until the cache holds at most `limit` bytes; returns the bytes freed."""
    entries = []
    for path in root.rglob("*"):
        if path.is_file():
            st = path.stat()
            entries.append((st.st_mtime, st.st_size, path))
    total = sum(size for _, size, _ in entries)
    freed = 0
    for _, size, path in sorted(entries, key=lambda e: e[0]):
        if total - freed <= limit:
            break
        if str(path) in keep:
            continue
        path.unlink(missing_ok=True)
        freed += size
    return freed


def _cached(root: Path, name: str) -> Path:
    path = root / name
    if path.is_file():
        os.utime(path)  # recently used: the last to be trimmed
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    return _fetch(name, path)


def _fetch(name: str, path: Path) -> Path:
    """Download to a temporary name beside `path`, then rename: a reader never sees half a file."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".part-")
    try:
        with os.fdopen(fd, "wb") as dst, default_storage.open(name, "rb") as src:
            shutil.copyfileobj(src, dst, _CHUNK)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
