"""`python manage.py predict --run ID --project SLUG [--no-vote] [--json]`: store the run's class probabilities
for the project's unfinished (and checked) items, set priority from uncertainty, and let the model vote."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from annotate.exceptions import ServiceError
from labeling.models import Project
from training.models import TrainingRun
from training.services import predictions_refresh


class Command(BaseCommand):
    help = "Predict a finished run over a project's items (model in the loop)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--run", dest="run_id", type=int, required=True)
        parser.add_argument("--project", required=True, help="project slug")
        parser.add_argument("--no-vote", action="store_true", help="predict and prioritise only")
        parser.add_argument("--json", action="store_true")

    def handle(self, *args: Any, **opts: Any) -> None:
        run = TrainingRun.objects.select_related("version").filter(pk=opts["run_id"]).first()
        project = Project.objects.filter(slug=opts["project"]).first()
        if run is None or project is None:
            raise CommandError("No such run or project.")
        try:
            out = predictions_refresh(run=run, project=project, vote=not opts["no_vote"])
        except ServiceError as exc:
            raise CommandError(exc.message) from exc
        if out["voter_error"]:
            self.stderr.write(f"model not voting: {out['voter_error']}")
        self.stdout.write(json.dumps(out) if opts["json"] else f"{out['predicted']} items predicted")
