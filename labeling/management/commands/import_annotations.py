"""Import existing annotations into a project, as gold or as an imported annotator's votes.

    python manage.py import_annotations --project SLUG --format coco|yolo|voc|csv [--as gold|votes]
        [--source NAME] PATH [--json]

PATH is a file (a COCO JSON, a CSV, a VOC XML, or a zip of YOLO/VOC files) or a folder. All or nothing: with any
bad entry nothing is imported, every bad entry is listed and the command exits 1. With --json the last stdout line
is `{"matched", "created", "unmatched", "errors"}` (errors: [{"entry", "message"}]).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from annotate.exceptions import ServiceError
from labeling.management.cli import project_from_slug
from labeling.services.imports import (
    FORMATS,
    MODES,
    ImportFailed,
    SourceError,
    annotations_import,
    files_from_path,
)


class Command(BaseCommand):
    requires_system_checks: list[str] = []  # no URLconf (and torch) import for a data command
    help = "Import COCO, YOLO, Pascal VOC or CSV annotations as gold or as votes."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", help="A file, a zip or a folder.")
        parser.add_argument("--project", required=True, help="Project slug.")
        parser.add_argument("--format", required=True, choices=FORMATS)
        parser.add_argument("--as", dest="mode", default="votes", choices=MODES)
        parser.add_argument("--source", default="imported", help="Imported annotator's name (votes): imported-NAME.")
        parser.add_argument("--json", action="store_true", help="Print a JSON summary as the last line.")

    def handle(self, *args: Any, **opts: Any) -> None:
        project = project_from_slug(opts["project"])
        try:
            files = files_from_path(Path(opts["path"]))
            result = annotations_import(project=project, fmt=opts["format"], files=files, mode=opts["mode"],
                                        source_name=opts["source"])  # fmt: skip
        except ImportFailed as exc:
            for e in exc.result.errors:
                self.stderr.write(f"{e['entry']}: {e['message']}")
            if opts["json"]:
                self.stdout.write(json.dumps(exc.result.summary()))
            raise CommandError(exc.message) from exc
        except (SourceError, ServiceError, OSError) as exc:
            message = getattr(exc, "message", str(exc))
            if opts["json"]:
                self.stdout.write(json.dumps({"matched": 0, "created": 0, "unmatched": 0,
                                              "errors": [{"entry": "", "message": message}]}))  # fmt: skip
            raise CommandError(message) from exc
        self.stdout.write(
            f"{result.matched} image(s) matched, {result.created} {opts['mode']} written, "
            f"{result.unmatched} not in the project."
        )
        for ref in result.unmatched_refs[:20]:
            self.stdout.write(f"  not in the project: {ref}")
        if opts["json"]:
            self.stdout.write(json.dumps(result.summary()))
