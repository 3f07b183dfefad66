"""Ingest limits: `settings.ANNOTATE[NAME]`, else the `ANNOTATE_<NAME>` environment variable, else a default.

The environment fallback lets a test start a worker subprocess with, say, a small chunk size.
"""

from __future__ import annotations

import os

from django.conf import settings

DEFAULTS: dict[str, int | float] = {
    "MAX_IMAGE_BYTES": 50 * 1024 * 1024,
    "MAX_IMAGE_PIXELS": 100_000_000,
    # Decoded bytes (width x height x bytes per pixel of the mode) of one image, and of all the images one
    # process decodes at a time: a 9400x9400 RGBA PNG is 363 KB on disk and 353 MB decoded.
    "MAX_DECODE_BYTES": 512 * 1024 * 1024,
    "DECODE_BUDGET_BYTES": 512 * 1024 * 1024,
    "MIN_IMAGE_SIDE": 8,
    "MAX_IMAGE_SIDE": 20_000,
    "THUMBNAIL_SIZE": 256,
    "FETCH_TIMEOUT_SECONDS": 10,
    "FETCH_MAX_BYTES": 50 * 1024 * 1024,
    "FETCH_MAX_REDIRECTS": 5,
    "FETCH_PER_HOST": 2,
    "FETCH_THREADS": 8,
    "INGEST_THREADS": 0,  # 0 = os.cpu_count()
    "INGEST_CHUNK_SIZE": 64,
    "NEAR_DUP_RADIUS": 8,
    "ARCHIVE_MAX_ENTRIES": 100_000,
    "ARCHIVE_MAX_TOTAL_BYTES": 20 * 1024**3,
    "ARCHIVE_MAX_RATIO": 200,
}


def limit(name: str) -> int | float:
    annotate = getattr(settings, "ANNOTATE", {})
    if name in annotate:
        return annotate[name]
    raw = os.environ.get(f"ANNOTATE_{name}")
    default = DEFAULTS[name]
    if raw is not None:
        return type(default)(raw)
    return default


def ingest_threads() -> int:
    return int(limit("INGEST_THREADS")) or (os.cpu_count() or 1)
