"""Content-addressed files through Django's storage API (local disk or S3).

Originals live at `images/ab/cd/<sha256>.<ext>`, thumbnails at `thumbs/ab/cd/<sha256>.jpg`. A name is
written once: if it exists, its bytes are by construction the same, so writing is skipped.
"""

from __future__ import annotations

import threading

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

_lock = threading.Lock()
_in_flight: set[str] = set()


def original_name(sha256: str, ext: str) -> str:
    return f"images/{sha256[:2]}/{sha256[2:4]}/{sha256}.{ext}"


def thumbnail_name(sha256: str) -> str:
    return f"thumbs/{sha256[:2]}/{sha256[2:4]}/{sha256}.jpg"


def blob_store(*, name: str, data: bytes) -> str:
    """Write `data` at `name` unless already there; safe when two threads store the same content."""
    with _lock:
        if name in _in_flight:
            return name
        _in_flight.add(name)
    try:
        if default_storage.exists(name):
            return name
        saved = default_storage.save(name, ContentFile(data))
        if saved != name:  # another process won the race and the storage picked a new name: drop ours
            default_storage.delete(saved)
        return name
    finally:
        with _lock:
            _in_flight.discard(name)
