"""`manage.py annotator_scores --project SLUG [--json]`: the project's annotators with their scores.

Estimated accuracy comes from the aggregation model the quality engine uses (the latest re-aggregation), with its
95 % interval; gold accuracy from their answers on gold items. With --json the last line is a list of
{"user", "status", "estimated_accuracy", "estimated_low", "estimated_high", "gold_accuracy", "gold_seen",
"labels"}, best estimated accuracy first.
"""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from labeling.management.cli import project_from_slug
from labeling.selectors.quality import annotator_scores


class Command(BaseCommand):
    help = "List a project's annotators with estimated accuracy (and interval), gold accuracy and volume."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--project", required=True, help="project slug")
        parser.add_argument("--json", action="store_true", help="print one JSON list as the last line")

    def handle(self, *args: Any, **options: Any) -> None:
        project = project_from_slug(options["project"])
        rows = [
            {
                "user": s.user.username,
                "status": s.status,
                "estimated_accuracy": s.ds_accuracy,
                "estimated_low": s.ds_accuracy_low,
                "estimated_high": s.ds_accuracy_high,
                "gold_accuracy": s.gold_accuracy,
                "gold_seen": s.gold_seen,
                "labels": s.volume,
            }
            for s in annotator_scores(project=project)
        ]
        if not options["json"]:
            self.stdout.write(f"{'user':<24} {'status':<10} {'estimated (95 %)':<22} {'gold':<16} labels")
            for r in rows:
                est = "—" if r["estimated_accuracy"] is None else f"{r['estimated_accuracy']:.3f}"
                if r["estimated_low"] is not None and r["estimated_high"] is not None:
                    est += f" [{r['estimated_low']:.2f}, {r['estimated_high']:.2f}]"
                gold = "—" if r["gold_accuracy"] is None else f"{r['gold_accuracy']:.3f} of {r['gold_seen']}"
                self.stdout.write(f"{r['user']:<24} {r['status']:<10} {est:<22} {gold:<16} {r['labels']}")
        self.stdout.write(json.dumps(rows))
