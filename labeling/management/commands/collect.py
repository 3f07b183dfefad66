"""python manage.py collect --project SLUG [--per-category N] [--sources openverse,commons] [--json] [--dry-run]
[--async]

Builds each category's queries (names, synonyms, WordNet, parent head word, other languages), searches the
sources, and ingests the licensed candidates through the normal URL ingest, in the foreground (the service the
worker runs; `--async` queues it). `--dry-run` prints the queries and fetches nothing. With --json the last
stdout line is one JSON object: the queries (dry run) or the run's report with per-query statistics.
"""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError, CommandParser

from annotate.exceptions import ServiceError
from labeling.models import Project
from labeling.selectors.collection import query_stats, source_stats
from labeling.services.collection.run import (
    collection_counts,
    collection_plan,
    collection_run,
    collection_run_create,
    collection_start,
)


class Command(BaseCommand):
    help = "Collect candidate images per category from image search sources."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--project", required=True, help="Project slug")
        parser.add_argument("--per-category", type=int, default=100, help="About this many candidates per category")
        parser.add_argument("--sources", nargs="+", help="openverse commons flickr json (comma- or space-separated)")
        parser.add_argument("--json", action="store_true", help="End with one JSON line")
        parser.add_argument("--dry-run", action="store_true", help="Print the queries; fetch nothing")
        parser.add_argument("--async", dest="run_async", action="store_true", help="Queue on the ingest worker")

    def handle(self, *args: object, **opts: object) -> None:
        project = Project.objects.filter(slug=str(opts["project"])).first()
        if project is None:
            raise CommandError(f"No project {opts['project']!r}.")
        if opts["dry_run"]:
            categories = [
                {"category": p.category.name, "wnid": p.category.wnid, "queries": [q.text for q in p.queries],
                 "languages": [q.language for q in p.queries], "kinds": [q.kind for q in p.queries]}
                for p in collection_plan(project=project)
            ]  # fmt: skip
            if not opts["json"]:
                for c in categories:
                    self.stdout.write(f"{c['category']} ({c['wnid'] or 'no wnid'}): {' | '.join(c['queries'])}")
            else:
                self.stdout.write(json.dumps({"categories": categories}, ensure_ascii=False))
            return
        sources = [s for raw in (opts["sources"] or []) for s in str(raw).split(",") if s] or None
        try:
            run = collection_run_create(project=project, sources=sources, per_category=int(opts["per_category"]))
        except ServiceError as exc:
            raise CommandError(exc.message) from exc
        if opts["run_async"]:
            collection_start(run=run)
            report = {"run": run.pk, "status": run.status, "queued": True}
        else:
            run = collection_run(
                run_id=run.pk,
                progress=lambda r: self.stderr.write(f"\rqueries {r.queries_done}/{r.queries_total} · {r.status}",
                                                     ending=""),
            )  # fmt: skip
            self.stderr.write("")
            stats = query_stats(project=project, run=run)
            report = {**collection_counts(run=run), "sources": source_stats(stats),
                      "queries": [s.as_dict() for s in stats]}  # fmt: skip
        if opts["json"]:
            self.stdout.write(json.dumps(report, ensure_ascii=False))
        else:
            self.stdout.write(f"run {report['run']}: {report['status']}")
