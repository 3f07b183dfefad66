"""Ingest settings that need more than a lookup in the settings object (annotate/conf.py)."""

from __future__ import annotations

import os

from annotate.conf import options


def ingest_threads() -> int:
    return options().INGEST_THREADS or (os.cpu_count() or 1)
