"""`manage.py create_project SLUG --type verify|classify|boxes [--box-mode single|detect] [--categories FILE]
[--votes K] [--json]`.

Categories FILE: CSV with a `name,definition,wnid,parent` header, or one name per line. With --json the last
line printed is `{"project": slug, "id": n, "categories": k, "task_type": ...}`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from annotate.bounded import read_file
from annotate.exceptions import ServiceError
from labeling.models import Project
from labeling.services.project_settings import CATEGORY_TEXT_LIMITS, categories_parse
from labeling.services.projects import project_create


class Command(BaseCommand):
    help = "Create a labeling project (optionally with categories from a file)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug")
        parser.add_argument("--type", dest="task_type", required=True, choices=Project.TaskType.values)
        parser.add_argument(
            "--box-mode",
            default=Project.BoxMode.SINGLE,
            choices=Project.BoxMode.values,
            help="boxes projects: single (one class per image) or detect (a category per box)",
        )
        parser.add_argument("--categories", type=Path, default=None, help="CSV name,definition,wnid,parent or names")
        parser.add_argument("--votes", type=int, default=3, help="votes per item (min votes)")
        parser.add_argument("--name", default="")
        parser.add_argument("--gold-rate", type=float, default=0.1)
        parser.add_argument("--invite-only", action="store_true")
        parser.add_argument("--owner", default=None, help="username of the owning researcher")
        parser.add_argument("--json", action="store_true", help="print a JSON summary as the last line")

    def handle(self, *args: Any, **options: Any) -> None:
        categories = []
        if options["categories"] is not None:
            path: Path = options["categories"]
            if not path.is_file():
                raise CommandError(f"categories file not found: {path}")
            try:
                data = read_file(path, CATEGORY_TEXT_LIMITS.max_bytes, what=str(path))
                categories = categories_parse(data.decode("utf-8-sig"))
            except (UnicodeDecodeError, ValueError) as exc:
                raise CommandError(f"cannot read categories from {path}: {exc}") from exc
        if not 1 <= options["votes"] <= 50:
            raise CommandError("--votes must be between 1 and 50")
        owner = None
        if options["owner"]:
            owner = get_user_model().objects.filter(username=options["owner"]).first()
            if owner is None:
                raise CommandError(f"no user named {options['owner']!r}")
        try:
            project = project_create(
                slug=options["slug"],
                task_type=options["task_type"],
                box_mode=options["box_mode"],
                name=options["name"],
                min_votes=options["votes"],
                gold_rate=options["gold_rate"],
                visibility=Project.Visibility.INVITE if options["invite_only"] else Project.Visibility.PUBLIC,
                categories=categories,
                owner=owner,
            )
        except ServiceError as exc:
            raise CommandError(exc.message) from exc
        n_categories = project.categories.count()
        if options["json"]:
            summary = {"project": project.slug, "id": project.id, "categories": n_categories,
                       "task_type": project.task_type}  # fmt: skip
            self.stdout.write(json.dumps(summary))
        else:
            self.stdout.write(
                self.style.SUCCESS(f"Created project {project.slug} ({project.task_type}, {n_categories} categories).")
            )
