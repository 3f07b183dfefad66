"""Importing existing annotations (COCO, YOLO, Pascal VOC, CSV) as gold or as an imported annotator's votes.

parsers.py reads the files (no Django); service.py matches entries to the project's images and writes.
"""

from labeling.services.imports.parsers import (
    FORMATS,
    MAX_UPLOAD_BYTES,
    SourceError,
    files_from_path,
    files_from_upload,
)
from labeling.services.imports.service import MODES, ImportFailed, ImportResult, annotations_import

__all__ = [
    "FORMATS",
    "MAX_UPLOAD_BYTES",
    "MODES",
    "ImportFailed",
    "ImportResult",
    "SourceError",
    "annotations_import",
    "files_from_path",
    "files_from_upload",
]
