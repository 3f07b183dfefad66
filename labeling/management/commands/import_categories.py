"""python manage.py import_categories FILE --project SLUG   (CSV or JSON: name,definition,wnid,parent)."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from annotate.exceptions import ServiceError
from labeling.management.cli import project_from_slug, read_input
from labeling.services.categories import MAX_IMPORT_BYTES, categories_import


class Command(BaseCommand):
    help = "Create or update a project's categories from a CSV or JSON file."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file")
        parser.add_argument("--project", required=True)

    def handle(self, *args: object, **opts: object) -> None:
        project = project_from_slug(opts["project"])
        path = Path(str(opts["file"]))
        data = read_input(path, MAX_IMPORT_BYTES)
        try:
            result = categories_import(project=project, data=data, filename=path.name)
        except ServiceError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(f"{result.created} created, {result.updated} updated, {len(result.errors)} errors.")
        for error in result.errors:
            self.stderr.write(error)
