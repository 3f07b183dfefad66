"""`jsonl`: one JSON object per image (label, posterior, votes, soft labels, provenance).

Values are written as they are: JSON is data, not a spreadsheet, so no cell is rewritten here (the CSV
export neutralises formula-like cells).
"""

from __future__ import annotations

from typing import IO, Any

from labeling.models import DatasetVersion
from labeling.services.exports.base import Progress, iter_rows, record_json

EXTENSION = ".jsonl"
CONTENT_TYPE = "application/x-ndjson"


def write(version: DatasetVersion, out: IO[bytes], progress: Progress, options: dict[str, Any]) -> int:
    n_classes = len(version.classes)
    count, total = 0, max(version.items_count, 1)
    for row in iter_rows(version, ("image_id",)):
        out.write(record_json(row, n_classes).encode() + b"\n")
        count += 1
        progress(count / total)
    return count
