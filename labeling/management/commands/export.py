"""Export a dataset version in the foreground (same service as the Celery task) and copy it to PATH.

    python manage.py export --version ID --format FORMAT --out PATH [--json] [--shard-mb N] [--folder-names wnid]

With --json the last stdout line is `{"export": id, "format": f, "path": PATH, "bytes": n, "items": n}`.
An existing finished export of the same version and format is reused (a version never changes).
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

from django.core.files.storage import default_storage
from django.core.management.base import BaseCommand, CommandError, CommandParser

from annotate.exceptions import ServiceError
from labeling.models import DatasetExport, DatasetVersion
from labeling.services.exports import FORMATS, dataset_export_request, dataset_export_run, export_filename


class Command(BaseCommand):
    # No system checks: they import every URLconf (and with it torch, via the training views), which costs
    # seconds and hundreds of MB for a command that needs neither.
    requires_system_checks: list[str] = []
    help = "Export a dataset version (imagefolder, csv, jsonl, coco, webdataset, raw_votes) to a file."

    def create_parser(self, prog_name: str, subcommand: str, **kwargs: Any) -> CommandParser:
        # `--version` is our contract (the dataset version id); it replaces Django's built-in --version flag.
        return super().create_parser(prog_name, subcommand, conflict_handler="resolve", **kwargs)

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--version", dest="version_id", type=int, required=True, help="Dataset version id.")
        parser.add_argument("--format", required=True, choices=list(FORMATS))
        parser.add_argument("--out", required=True, help="Output file (or an existing directory).")
        parser.add_argument("--shard-mb", type=float, default=None, help="webdataset: maximum shard size in MB.")
        parser.add_argument("--folder-names", choices=["index", "wnid"], default=None,
                            help="imagefolder: class folders by class index (default) or WordNet id.")  # fmt: skip
        parser.add_argument("--json", action="store_true", help="Print a JSON summary as the last line.")

    def handle(self, *args: Any, **opts: Any) -> None:
        version = DatasetVersion.objects.filter(pk=opts["version_id"]).select_related("project").first()
        if version is None:
            raise CommandError(f"No dataset version with id {opts['version_id']}.")
        options = {k: opts[k] for k in ("shard_mb", "folder_names") if opts[k] is not None}
        started = time.perf_counter()
        try:
            export = dataset_export_request(version=version, fmt=opts["format"], options=options, enqueue=False)
            export = dataset_export_run(export_id=export.id)
        except ServiceError as exc:
            raise CommandError(exc.message) from exc
        except Exception as exc:
            raise CommandError(f"Export failed: {type(exc).__name__}: {exc}") from exc
        if export is None or export.status != DatasetExport.Status.DONE:
            raise CommandError("Export did not finish.")
        out = Path(opts["out"])
        if out.is_dir():
            out = out / export_filename(export)
        out.parent.mkdir(parents=True, exist_ok=True)
        try:
            shutil.copyfile(default_storage.path(export.file.name), out)  # in-kernel copy for local storage
        except NotImplementedError:
            with export.file.open("rb") as src, out.open("wb") as dst:
                shutil.copyfileobj(src, dst, length=1024 * 1024)
        summary = {"export": export.id, "format": export.format, "path": str(out), "bytes": out.stat().st_size,
                   "items": export.items_count, "version": version.id,
                   "seconds": round(time.perf_counter() - started, 3)}  # fmt: skip
        if opts["json"]:
            self.stdout.write(json.dumps(summary))
        else:
            self.stdout.write(f"wrote {summary['bytes']} bytes ({export.items_count} items) to {out}")
