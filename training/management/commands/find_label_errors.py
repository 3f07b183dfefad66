"""`manage.py find_label_errors --version ID [--folds K] [--threshold Q] [--dry-run] [--json]`

K-fold out-of-sample probabilities from the packaged pretrained backbone's features, ranked by confident learning;
suspects go to the review queue with reason "model disagrees (cross-validated)" (not with --dry-run). With --json
the last stdout line is {"version", "checked", "suspected", "items": [{"item", "sha256", "label", "suggested",
"score"}, ...]}, most likely error first; `suspected` is the length of `items`.
"""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from annotate.exceptions import ServiceError
from labeling.models import DatasetVersion


class Command(BaseCommand):
    help = "Find likely label errors in a dataset version and send them to review."

    def add_base_argument(self, parser: CommandParser, *args: Any, **kwargs: Any) -> None:
        if "--version" not in args:  # ours is the dataset version, not Django's version flag
            super().add_base_argument(parser, *args, **kwargs)

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--version", dest="version_id", type=int, required=True, help="DatasetVersion id")
        parser.add_argument("--folds", type=int, default=5, help="cross-validation folds (>= 2)")
        parser.add_argument("--threshold", type=float, help="label-quality cut-off (default 0.3)")
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--dry-run", action="store_true", help="rank only; send nothing to review")
        parser.add_argument("--json", action="store_true", help="last line: JSON report")

    def handle(self, *args: Any, **opts: Any) -> None:
        from training.services import label_errors_find

        version = DatasetVersion.objects.filter(pk=opts["version_id"]).first()
        if version is None:
            raise CommandError(f"No dataset version {opts['version_id']}.")
        kwargs = {"threshold": opts["threshold"]} if opts["threshold"] is not None else {}
        try:
            report = label_errors_find(version=version, folds=opts["folds"], seed=opts["seed"],
                                       flag=not opts["dry_run"], **kwargs)  # fmt: skip
        except ServiceError as exc:
            raise CommandError(exc.message) from exc
        self.stderr.write(f"version {version.pk}: {report.checked} images checked, {report.suspected} suspected, "
                          f"{report.flagged} sent to review")  # fmt: skip
        body = report.to_dict()
        body.pop("flagged")
        if opts["json"]:
            self.stdout.write(json.dumps(body))
        else:
            for it in report.items:
                self.stdout.write(f"{it.score:.3f}  item {it.item}  {it.label} -> {it.suggested}  {it.sha256[:12]}")
