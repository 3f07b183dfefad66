"""Restore a backup into the configured database, then check every file of its media manifest in storage.

    python manage.py restore --from DIR --yes [--json]

Replaces everything in the database DATABASE_URL names (--yes is required). Exits non-zero when a file the
restored rows name is missing from storage or has other bytes (each one listed). annotate/backup.md.
"""

from __future__ import annotations

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from annotate.backup import BackupError, backup_restore


class Command(BaseCommand):
    requires_system_checks: list[str] = []
    help = "Restore a backup folder (database dump + media manifest) and verify the media in storage."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--from", dest="source", required=True, help="Backup folder written by `backup`.")
        parser.add_argument("--yes", action="store_true", help="Confirm: the database's contents are replaced.")
        parser.add_argument("--json", action="store_true", help="Print a JSON summary as the last line.")

    def handle(self, *args, **opts) -> None:
        if not opts["yes"]:
            raise CommandError("restore replaces the whole database: pass --yes to confirm")
        try:
            check = backup_restore(source=Path(opts["source"]))
        except BackupError as exc:
            raise CommandError(str(exc)) from exc
        summary = {"checked": check.checked, "missing": check.missing, "changed": check.changed}
        if opts["json"]:
            self.stdout.write(json.dumps(summary))
        else:
            self.stdout.write(f"database restored; {check.checked} media files checked")
        if not check.ok:
            problems = [f"missing: {n}" for n in check.missing] + [f"changed: {n}" for n in check.changed]
            raise CommandError("media does not match the manifest:\n" + "\n".join(problems[:50]))
