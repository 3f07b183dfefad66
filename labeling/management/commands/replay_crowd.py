"""`manage.py replay_crowd`: replay a real crowd label file through the platform's own services.

    python manage.py replay_crowd --labels LABELS.csv --gold GOLD.csv [--method NAME] [--policy all|fixed|adaptive]
        [--votes K] [--target P] [--seed S] [--use-gold-fraction F] --json

The last stdout line is JSON: {"method", "policy", "items", "labels_available", "labels_used", "accuracy",
"seconds"}; accuracy is over gold items that received at least one label. The throw-away project, its users and
items are deleted at the end. How it works: labeling/services/quality/replay.py and quality.md.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from annotate.exceptions import ServiceError
from labeling.algorithms.aggregation import DEFAULT_METHOD, METHODS
from labeling.services.quality.replay import POLICIES, replay_crowd


class Command(BaseCommand):
    help = "Replay crowd labels (worker,item,label) through assignment, submission and the quality engine."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--labels", required=True, type=Path, help="CSV worker,item,label")
        parser.add_argument("--gold", required=True, type=Path, help="CSV item,label (used only to score)")
        parser.add_argument("--method", default=DEFAULT_METHOD, help=f"one of {', '.join(sorted(METHODS))}")
        parser.add_argument("--policy", default="all", choices=POLICIES)
        parser.add_argument("--votes", type=int, default=None, help="K for --policy fixed")
        parser.add_argument("--target", type=float, default=0.95, help="confidence target for --policy adaptive")
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--use-gold-fraction", type=float, default=0.0, dest="gold_fraction")
        parser.add_argument("--reaggregate-every", type=int, default=None, help="answers between re-aggregations")
        parser.add_argument(
            "--compare-methods",
            default="",
            help="comma-separated extra methods scored on the same votes (one JSON line each, before the last)",
        )
        parser.add_argument(
            "--audit-rate",
            type=float,
            default=None,
            help="share of items that collect every label as calibration references (default: a new project's, "
            "0.05). Audit items are chosen by a hash of the item id, so a replay is exactly repeatable only with 0",
        )
        parser.add_argument("--keep", action="store_true", help="keep the project (debugging)")
        parser.add_argument(
            "--annotators-out",
            type=Path,
            default=None,
            help="write CSV worker,estimated_accuracy,gold_accuracy,labels for the replayed workers "
            "(gold accuracy from the gold file: scoring only)",
        )
        parser.add_argument("--json", action="store_true", help="print the result as one JSON line (always last)")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["method"] not in METHODS:
            raise CommandError(f"unknown method {options['method']!r}; choose one of {', '.join(sorted(METHODS))}")
        unknown = [m for m in options["compare_methods"].split(",") if m and m not in METHODS]
        if unknown:
            raise CommandError(f"unknown method(s) in --compare-methods: {', '.join(unknown)}")
        for flag in ("labels", "gold"):
            if not options[flag].is_file():
                raise CommandError(f"--{flag} {options[flag]}: no such file")
        if not 0.5 <= options["target"] < 1.0:
            raise CommandError("--target must be in [0.5, 1)")
        try:
            result = replay_crowd(
                labels_path=str(options["labels"]),
                gold_path=str(options["gold"]),
                method=options["method"],
                policy=options["policy"],
                votes=options["votes"],
                target=options["target"],
                seed=options["seed"],
                use_gold_fraction=options["gold_fraction"],
                audit_rate=options["audit_rate"],
                reaggregate_every=options["reaggregate_every"],
                keep=options["keep"],
                compare_methods=tuple(m for m in options["compare_methods"].split(",") if m),
            )
        except (ServiceError, ValueError) as exc:
            raise CommandError(str(getattr(exc, "message", exc))) from exc
        if options["annotators_out"] is not None:
            _write_annotators(options["annotators_out"], result.annotators)
        for other in result.compared:
            self.stdout.write(json.dumps(other.as_dict()))
        data = result.as_dict()
        if not options["json"]:
            self.stdout.write(", ".join(f"{k}={v}" for k, v in data.items()))
        self.stdout.write(json.dumps(data))


def _write_annotators(path: Path, rows: list) -> None:
    def num(value: float | None) -> str:
        return "" if value is None else f"{value:.6f}"

    try:
        with path.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(["worker", "estimated_accuracy", "gold_accuracy", "labels"])
            for row in rows:
                writer.writerow([row.worker, num(row.estimated_accuracy), num(row.gold_accuracy), row.labels])
    except OSError as exc:
        raise CommandError(f"--annotators-out {path}: {exc.strerror or exc}") from exc
