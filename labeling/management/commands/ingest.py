"""python manage.py ingest SOURCE --project SLUG [--category NAME] [--create-project] [--json] [--async]
   python manage.py ingest --retry BATCH_ID [--json] [--async]

SOURCE is a folder, a .zip/.tar(.gz) archive or a URL-list file (CSV or one URL per line). The batch runs
in the foreground through the same service the worker runs (`--async` queues it instead). With --json
the last stdout line is the report object. Exit 0 even when inputs are rejected; 1 if the batch cannot run.
`--retry` takes a failed batch up again (its pending entries: a storage error, an interrupted run).
"""

from __future__ import annotations

import json
import tarfile
import zipfile
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from annotate.exceptions import ServiceError
from labeling.models import IngestBatch, Project
from labeling.services.ingestion import batch_create, batch_report, batch_retry, batch_run
from labeling.services.ingestion.batch import batch_start
from labeling.services.projects import category_upsert, project_create


def source_kind(path: Path) -> str:
    if path.is_dir():
        return IngestBatch.Kind.FOLDER
    if zipfile.is_zipfile(path) or tarfile.is_tarfile(path):
        return IngestBatch.Kind.ARCHIVE
    return IngestBatch.Kind.URLS


class Command(BaseCommand):
    help = "Ingest a folder, an archive or a URL list into a project as one batch."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("source", nargs="?", help="Folder, .zip/.tar(.gz) archive, or URL-list file")
        parser.add_argument("--project", help="Project slug (required with a source)")
        parser.add_argument("--retry", type=int, metavar="BATCH_ID", help="Run a failed batch again")
        parser.add_argument("--category", help="Candidate category for files at the top level")
        parser.add_argument("--create-project", action="store_true", help="Create a verify project if missing")
        parser.add_argument("--json", action="store_true", help="End with one JSON line: the batch report")
        parser.add_argument("--async", dest="run_async", action="store_true", help="Queue on the ingest worker")

    def handle(self, *args: object, **opts: object) -> None:
        if opts["retry"] is not None:
            batch = IngestBatch.objects.filter(pk=opts["retry"]).first()
            if batch is None:
                raise CommandError(f"No batch {opts['retry']}.")
            try:
                batch = batch_retry(batch=batch, enqueue=False)  # _run queues it with --async
            except ServiceError as exc:
                raise CommandError(exc.message) from exc
            return self._run(batch, opts)
        if not opts["source"] or not opts["project"]:
            raise CommandError("Give a SOURCE and --project SLUG, or --retry BATCH_ID.")
        path = Path(str(opts["source"])).expanduser().resolve()
        if not path.exists():
            raise CommandError(f"{path} does not exist.")
        slug = str(opts["project"])
        try:
            project = Project.objects.filter(slug=slug).first()
            if project is None:
                if not opts["create_project"]:
                    raise CommandError(f"No project {slug!r} (use --create-project to create it).")
                project = project_create(slug=slug, task_type=Project.TaskType.VERIFY)
            category = category_upsert(project=project, name=str(opts["category"])) if opts["category"] else None
            batch = batch_create(project=project, kind=source_kind(path), source=str(path), default_category=category)
        except ServiceError as exc:
            raise CommandError(exc.message) from exc
        return self._run(batch, opts)

    def _run(self, batch: IngestBatch, opts: dict) -> None:
        if opts["run_async"]:
            batch_start(batch=batch)
            self._emit(opts, {"batch": batch.id, "status": batch.status}, f"Batch {batch.id} queued.")
            return
        with tqdm(total=0, unit="img", desc=f"batch {batch.id}", file=self.stderr._out, leave=True) as bar:

            def progress(done: int, total: int) -> None:
                bar.total = total
                bar.n = done
                bar.refresh()

            batch = batch_run(batch_id=batch.id, progress=progress)
        report = batch_report(batch=batch)
        if batch.status == IngestBatch.Status.FAILED:
            self.stderr.write(f"Batch {batch.id} failed: {batch.error}")
            if opts["json"]:
                self.stdout.write(json.dumps({**report, "error": batch.error}))
            raise CommandError(batch.error)
        summary = (
            f"Batch {batch.id}: {report['ingested']} ingested, {report['duplicates']} duplicates, "
            f"{report['near_duplicates']} near-duplicates, {report['rejected']} rejected."
        )
        if report["ingested"] == 0:
            summary += " Nothing new was added."
        self._emit(opts, report, summary)

    def _emit(self, opts: dict, payload: dict, summary: str) -> None:
        if opts["json"]:
            self.stderr.write(summary)
            self.stdout.write(json.dumps(payload, sort_keys=False))
        else:
            self.stdout.write(summary)
            for code, n in payload.get("rejections", {}).items():
                self.stdout.write(f"  rejected {code}: {n}")
