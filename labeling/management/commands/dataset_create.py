"""Create an immutable dataset version of a project.

    python manage.py dataset_create --project SLUG [--min-posterior P] [--split 0.8,0.1,0.1] [--seed S] --json

With --json the last stdout line is `{"version": id, "items": n, "classes": k, "hash": "..."}`.
"""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from annotate.exceptions import ServiceError
from labeling.models import Category, Project
from labeling.services.datasets import dataset_version_create


def _split(value: str) -> tuple[float, float, float]:
    try:
        parts = tuple(float(p) for p in value.split(","))
    except ValueError as exc:
        raise CommandError(f"--split must be three comma-separated numbers, got {value!r}") from exc
    if len(parts) != 3:
        raise CommandError(f"--split needs three fractions (train,val,test), got {value!r}")
    return parts  # type: ignore[return-value]


class Command(BaseCommand):
    # No system checks: they import every URLconf (and with it torch, via the training views), which costs
    # seconds and hundreds of MB for a command that needs neither.
    requires_system_checks: list[str] = []
    help = "Create an immutable dataset version (snapshot, stratified split, stats, card)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--project", required=True, help="Project slug.")
        parser.add_argument("--min-posterior", type=float, default=None)
        parser.add_argument("--split", default="0.8,0.1,0.1", help="train,val,test fractions (sum 1).")
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--name", default="")
        parser.add_argument("--categories", default="", help="Comma-separated category names (default: all).")
        parser.add_argument("--accepted-only", action="store_true")
        parser.add_argument("--exclude-gold", action="store_true")
        parser.add_argument("--keep-near-duplicates", action="store_true")
        parser.add_argument("--json", action="store_true", help="Print a JSON summary as the last line.")

    def handle(self, *args: Any, **opts: Any) -> None:
        project = Project.objects.filter(slug=opts["project"]).first()
        if project is None:
            raise CommandError(f"No project with slug {opts['project']!r}.")
        categories = None
        if opts["categories"]:
            names = [n.strip() for n in opts["categories"].split(",") if n.strip()]
            found = dict(Category.objects.filter(project=project, name__in=names).values_list("name", "id"))
            missing = [n for n in names if n not in found]
            if missing:
                raise CommandError(f"Unknown categories: {', '.join(missing)}")
            categories = list(found.values())
        try:
            version = dataset_version_create(
                project=project, categories=categories, min_posterior=opts["min_posterior"],
                accepted_only=opts["accepted_only"], include_gold=not opts["exclude_gold"],
                exclude_near_duplicates=not opts["keep_near_duplicates"], split=_split(opts["split"]),
                seed=opts["seed"], name=opts["name"],
            )  # fmt: skip
        except ServiceError as exc:
            raise CommandError(exc.message) from exc
        summary = {"version": version.id, "items": version.items_count, "classes": len(version.classes),
                   "hash": version.content_hash}  # fmt: skip
        if opts["json"]:
            self.stdout.write(json.dumps(summary))
        else:
            self.stdout.write(f"{project.slug} v{version.number} (id {version.id}): {version.items_count} images, "
                              f"{len(version.classes)} classes, hash {version.content_hash}")  # fmt: skip
