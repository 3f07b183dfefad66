"""Back up the database and write the media manifest (annotate/backup.md).

    python manage.py backup --out DIR [--json]

DIR is created and must be empty. With --json the last stdout line is {"dump", "dump_bytes", "files",
"media_bytes"}.
"""

from __future__ import annotations

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from annotate.backup import BackupError, backup_create


class Command(BaseCommand):
    requires_system_checks: list[str] = []
    help = "Dump the database and write a manifest of every stored file it names."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--out", required=True, help="Backup folder (created; must be empty).")
        parser.add_argument("--json", action="store_true", help="Print a JSON summary as the last line.")

    def handle(self, *args, **opts) -> None:
        try:
            summary = backup_create(out=Path(opts["out"]))
        except BackupError as exc:
            raise CommandError(str(exc)) from exc
        if opts["json"]:
            self.stdout.write(json.dumps(summary))
        else:
            self.stdout.write(f"database: {summary['dump']} ({summary['dump_bytes']} bytes); "
                              f"manifest: {summary['files']} files, {summary['media_bytes']} bytes")  # fmt: skip
