"""python manage.py payouts --project SLUG --format prolific|mturk|csv [--out PATH] [--preview] [--period P] [--json]

Settles the ledger (reversals for blocked workers, grids, the period's quality bonuses), writes each worker's
outstanding balance in the marketplace's bulk-bonus format (to PATH, else stdout) and records it as paid, so the
next file holds only what was earned since. `--preview` writes the file without recording anything (bonuses are
still awarded: they are earnings). With --json the last stdout line is {"payout", "workers", "total_cents"}.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from crowdpay.models import Payout
from crowdpay.services.payouts import payout_create
from labeling.models import Project


class Command(BaseCommand):
    help = "Write a payout file of the project's outstanding balances and record it as paid."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--project", required=True)
        parser.add_argument("--format", required=True, choices=Payout.Format.values)
        parser.add_argument("--out", help="Write the file here (default: stdout)")
        parser.add_argument("--preview", action="store_true", help="Do not record the payout")
        parser.add_argument("--period", help="Bonus period (default: the current ISO week, e.g. 2026-W49)")
        parser.add_argument("--json", action="store_true")

    def handle(self, *args: object, **opts: object) -> None:
        project = Project.objects.filter(slug=str(opts["project"])).first()
        if project is None:
            raise CommandError(f"No project {opts['project']!r}.")
        result = payout_create(project=project, fmt=str(opts["format"]), record=not opts["preview"],
                               bonus_period=opts["period"] or None)  # fmt: skip
        if opts["out"]:
            path = Path(str(opts["out"])).expanduser()
            fd, tmp = tempfile.mkstemp(dir=path.parent or ".", prefix=".payout-")
            with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
                fh.write(result.text)
            os.replace(tmp, path)  # whole or nothing
        elif not opts["json"]:
            self.stdout.write(result.text, ending="")
        if opts["json"]:
            self.stdout.write(
                json.dumps(
                    {
                        "payout": result.payout.pk if result.payout else None,
                        "workers": len(result.lines),
                        "total_cents": result.total_cents,
                    }
                )
            )
