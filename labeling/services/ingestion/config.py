"""Ingest settings that need more than a lookup in the settings object (annotate/conf.py)."""

from __future__ import annotations

import os

from annotate.conf import options


def decode_processes() -> int:
    """Size of the decoding process pool (decoding.py); 1 means no pool."""
    return options().INGEST_PROCESSES or (os.cpu_count() or 1)


def ingest_threads() -> int:
    """Threads of a folder/archive/upload batch: they read, wait for the pool and store, so twice its size."""
    return options().INGEST_THREADS or 2 * decode_processes()
