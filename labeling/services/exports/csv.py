"""`csv`: one row per image. Nested values (votes, soft labels, boxes) are JSON strings; text cells that
start with = + - @ TAB or CR get a leading apostrophe so spreadsheets do not run them as formulas."""

from __future__ import annotations

import csv as _csv
import io
from typing import IO, Any

from labeling.models import DatasetVersion
from labeling.services.exports.base import Progress, iter_rows, neutralise_cell, relative_path

EXTENSION = ".csv"
CONTENT_TYPE = "text/csv"
COLUMNS = ("image_id", "sha256", "file_name", "split", "label", "label_index", "posterior", "n_votes", "votes",
           "soft_label", "annotators", "boxes", "is_gold", "cluster_id", "width", "height", "source_uri",
           "license", "attribution")  # fmt: skip


def write(version: DatasetVersion, out: IO[bytes], progress: Progress, options: dict[str, Any]) -> int:
    n_classes = len(version.classes)
    text = io.TextIOWrapper(out, encoding="utf-8", newline="", write_through=True)
    writer = _csv.writer(text)
    writer.writerow(COLUMNS)
    count, total = 0, max(version.items_count, 1)
    for row in iter_rows(version, ("image_id",)):
        writer.writerow([neutralise_cell(v) for v in (
            row.image_id, row.image_sha256, relative_path(row, n_classes), row.split, row.label_name,
            row.class_index, "" if row.posterior is None else row.posterior, row.n_votes, row.votes_json,
            row.soft_label_json, row.annotators_json, row.boxes_json, row.is_gold, row.cluster_id, row.width,
            row.height, row.source_uri, row.license, row.attribution)])  # fmt: skip
        count += 1
        progress(count / total)
    text.flush()
    text.detach()
    return count
