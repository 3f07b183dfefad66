"""`manage.py zero_shot --project SLUG [--device cpu] [--json]`

The packaged pretrained classifier as a bounded, gold-calibrated voter for categories that are ImageNet-1k synsets
(see training/services/zero_shot.py). With --json the last stdout line is the report.
"""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from annotate.exceptions import ServiceError
from labeling.models import Project


class Command(BaseCommand):
    help = "Let the pretrained ImageNet classifier vote on a project's ImageNet categories (zero-shot)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--project", required=True, help="project slug")
        parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
        parser.add_argument("--json", action="store_true", help="last line: JSON report")

    def handle(self, *args: Any, **opts: Any) -> None:
        from training.services import zero_shot_apply

        project = Project.objects.filter(slug=opts["project"]).first()
        if project is None:
            raise CommandError(f"No project {opts['project']!r}.")
        try:
            report = zero_shot_apply(project=project, device=opts["device"])
        except ServiceError as exc:
            raise CommandError(exc.message) from exc
        body = report.to_dict()
        self.stdout.write(json.dumps(body) if opts["json"] else " ".join(f"{k}={v}" for k, v in body.items()))
