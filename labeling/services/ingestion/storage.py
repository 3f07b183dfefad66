"""Content-addressed files through Django's storage API (local disk or S3), written atomically and verified.

Originals live at `images/ab/cd/<sha256>.<ext>`, thumbnails at `thumbs/ab/cd/<sha256>.jpg`. A name is never
trusted for existing: a worker killed mid-write leaves a truncated file under it, so an existing file counts
only when its size and SHA-256 are those of the bytes we would write; otherwise it is replaced.

* Local disk (any storage with `path`): the bytes go to a temporary name in the same folder, are flushed
  and fsynced, then renamed over the final name (`os.replace`, atomic on POSIX): a reader sees the old file
  or the whole new one, never a part.
* Object stores (S3 through django-storages): a PUT is atomic already (an object appears whole or not at
  all). An existing object is verified by its size, then its content (read back and hashed; an ETag is an
  MD5 only for single-part uploads, so it is not relied on), and overwritten (deleted, then saved under
  the exact name) when it differs.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
import uuid
from typing import IO

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

_lock = threading.Lock()
_in_flight: dict[str, list] = {}  # name -> [its lock, how many threads want it]: one writer per name at a time


def original_name(sha256: str, ext: str) -> str:
    return f"images/{sha256[:2]}/{sha256[2:4]}/{sha256}.{ext}"


def thumbnail_name(sha256: str) -> str:
    return f"thumbs/{sha256[:2]}/{sha256[2:4]}/{sha256}.jpg"


def blob_store(*, name: str, data: bytes) -> str:
    """Make `name` hold exactly `data`: kept when it already does (size and SHA-256), written atomically
    otherwise. Safe when threads store the same content; storage errors (OSError, the S3 client's) escape."""
    with _lock:
        slot = _in_flight.setdefault(name, [threading.Lock(), 0])
        slot[1] += 1
    try:
        with slot[0]:
            try:
                path = default_storage.path(name)
            except NotImplementedError:
                path = None
            if path is not None:
                _store_local(path, data)
            else:
                _store_remote(name, data)
    finally:
        with _lock:
            slot[1] -= 1
            if not slot[1]:
                del _in_flight[name]
    return name


def blob_matches(*, name: str, data: bytes) -> bool:
    """Whether the stored file `name` holds exactly `data` (size first, then SHA-256 of its content)."""
    try:
        path = default_storage.path(name)
    except NotImplementedError:
        path = None
    if path is not None:
        return _local_matches(path, data)
    if not default_storage.exists(name):
        return False
    if default_storage.size(name) != len(data):
        return False
    with default_storage.open(name, "rb") as fh:
        return _digest(fh) == hashlib.sha256(data).digest()


def _digest(fh: IO[bytes]) -> bytes:
    h = hashlib.sha256()
    for block in iter(lambda: fh.read(1 << 20), b""):
        h.update(block)
    return h.digest()


def _local_matches(path: str, data: bytes) -> bool:
    try:
        if os.path.getsize(path) != len(data):
            return False
        with open(path, "rb") as fh:
            return _digest(fh) == hashlib.sha256(data).digest()
    except FileNotFoundError:
        return False


def _store_local(path: str, data: bytes) -> None:
    if _local_matches(path, data):
        return
    folder = os.path.dirname(path)
    os.makedirs(folder, exist_ok=True)
    tmp = os.path.join(folder, f".{os.path.basename(path)}.{uuid.uuid4().hex}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o644)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _store_remote(name: str, data: bytes) -> None:
    if blob_matches(name=name, data=data):
        return
    if default_storage.exists(name):
        default_storage.delete(name)  # a partial or foreign object: replaced, not kept beside ours
    saved = default_storage.save(name, ContentFile(data))
    if saved != name:  # another process stored the name meanwhile and the storage picked a new one: drop ours
        default_storage.delete(saved)
        if not blob_matches(name=name, data=data):
            raise OSError(f"{name}: the stored object does not hold the expected bytes")
