"""`manage.py compute_embeddings --project SLUG [--refresh] [--device cpu]`: pretrained feature vectors for
"similar images" (training/services/embeddings.py). Prints how many were written."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from labeling.models import Project


class Command(BaseCommand):
    help = "Compute and store an embedding per image of a project (pretrained efficientnet_lite0)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--project", required=True, help="project slug")
        parser.add_argument("--refresh", action="store_true", help="recompute existing ones too")
        parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])

    def handle(self, *args: Any, **opts: Any) -> None:
        from training.services import embeddings_compute

        project = Project.objects.filter(slug=opts["project"]).first()
        if project is None:
            raise CommandError(f"No project {opts['project']!r}.")
        n = embeddings_compute(project=project, device=opts["device"], refresh=opts["refresh"])
        self.stdout.write(f"{n} embeddings written")
