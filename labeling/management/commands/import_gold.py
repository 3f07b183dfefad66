"""python manage.py import_gold --project SLUG FILE [--json]   (CSV image,label[,category] or JSON; see README)."""

from __future__ import annotations

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from annotate.exceptions import ServiceError
from labeling.management.cli import project_from_slug, read_input
from labeling.services.quality.gold_import import MAX_GOLD_FILE_BYTES, gold_import_file


class Command(BaseCommand):
    help = (
        "Set gold (known answers) from a CSV (image,label[,category]) or JSON file. `image` is an image's SHA-256, "
        "source URI or file name; bad entries are reported one by one and the good ones are imported."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file")
        parser.add_argument("--project", required=True)
        parser.add_argument("--json", action="store_true", help="end with one JSON line: the import's summary")

    def handle(self, *args: object, **opts: object) -> None:
        project = project_from_slug(opts["project"])
        path = Path(str(opts["file"]))
        data = read_input(path, MAX_GOLD_FILE_BYTES)
        try:
            result = gold_import_file(project=project, data=data, filename=path.name)
        except ServiceError as exc:
            raise CommandError(exc.message) from exc
        summary = result.summary()
        for error in result.errors:
            self.stderr.write(f"line {error.line} ({error.image or '-'}): {error.reason} [{error.code}]")
        self.stdout.write(
            f"{summary['matched']} matched: {summary['created']} created, {summary['updated']} updated, "
            f"{summary['unchanged']} unchanged; {summary['unmatched']} unmatched, {len(summary['errors'])} errors."
        )
        if opts["json"]:
            self.stdout.write(json.dumps(summary))
