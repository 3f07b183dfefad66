"""`manage.py aggregate`: aggregate a crowd label file offline and write one answer per item.

    python manage.py aggregate --labels labels.csv [--gold gold.csv] [--method dawid_skene] --out pred.csv [--json]

Reads worker,item,label rows, runs a method from labeling.algorithms.aggregation and writes item,label,confidence
(confidence = posterior of the chosen label). With --json the summary line is one JSON object: method, the model
the default chose for this crowd and why, with its cross-fitted evidence (choice.md). It calls the pure algorithm
directly and never touches the database: it is a management command only so the CLI lives where operators look.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from labeling.algorithms.aggregation import DEFAULT_METHOD, METHODS, aggregate
from labeling.algorithms.crowd_io import read_crowd


class Command(BaseCommand):
    help = "Aggregate crowd labels from a CSV (worker,item,label) into item,label,confidence. No database access."
    requires_system_checks: list[str] = []  # pure file-to-file work; don't make it depend on project checks

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--labels", required=True, type=Path, help="CSV with columns worker,item,label")
        parser.add_argument("--out", required=True, type=Path, help="where to write item,label,confidence")
        parser.add_argument(
            "--method", default=DEFAULT_METHOD, help=f"one of {', '.join(sorted(METHODS))} (default {DEFAULT_METHOD})"
        )
        parser.add_argument("--gold", type=Path, default=None, help="optional CSV item,label of known answers")
        parser.add_argument(
            "--json", action="store_true", help="print the summary as JSON, with the chosen model and the reason"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        method: str = options["method"]
        if method not in METHODS:
            raise CommandError(f"unknown method {method!r}; choose one of: {', '.join(sorted(METHODS))}")
        if method == "wmv":
            raise CommandError("method 'wmv' needs per-worker weights, which this command cannot take; use 'wawa'")
        for flag in ("labels", "gold"):
            path = options[flag]
            if path is not None and not path.is_file():
                raise CommandError(f"--{flag} {path}: no such file")
        try:
            crowd = read_crowd(options["labels"], options["gold"])
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        result = aggregate(
            method,
            crowd.items,
            crowd.workers,
            crowd.labels,
            n_items=len(crowd.item_names),
            n_workers=len(crowd.worker_names),
            n_classes=len(crowd.label_names),
            gold_items=crowd.gold_items,
            gold_labels=crowd.gold_labels,
        )
        confidence = result.posteriors[range(len(crowd.item_names)), result.labels]
        out: Path = options["out"]
        try:
            with out.open("w", newline="", encoding="utf-8") as handle:
                writer = csv.writer(handle)
                writer.writerow(["item", "label", "confidence"])
                for name, label, conf in zip(crowd.item_names, result.labels, confidence, strict=True):
                    writer.writerow([name, crowd.label_names[label], f"{conf:.6f}"])
        except OSError as exc:
            raise CommandError(f"--out {out}: {exc}") from exc
        if options["json"]:
            summary = {
                "method": method,
                "model": result.model or method,
                "model_reason": result.model_reason,
                "model_evidence": result.model_evidence,
                "items": len(crowd.item_names),
                "labels": int(crowd.items.size),
                "gold": int(crowd.gold_items.size),
                "iterations": int(result.iterations),
                "temperature": float(result.temperature),
                "out": str(out),
            }
            self.stdout.write(json.dumps(summary))
            return
        model = f" (model {result.model}: {result.model_reason})" if result.model else ""
        self.stdout.write(
            f"{method}: {len(crowd.item_names)} items, {crowd.items.size} labels, "
            f"{result.iterations} iterations{model} -> {out}"
        )
