"""`manage.py train --version ID [--arch NAME] [--pretrained [--probe-epochs P]] [--epochs N] [--batch-size B] [--lr X]
[--wait | --foreground] [--json]`

--pretrained (efficientnet_lite0): the packaged ImageNet weights, a linear probe of P epochs on cached features,
then N epochs of full fine-tuning (default 0: the probe alone, minutes on a CPU).

--wait enqueues on the `gpu` queue and polls the database until a worker finishes the run; --foreground runs
the same service (`run_execute`) in this process; neither: enqueue and return. With --json the last stdout
line is {"run": id, "status": s, "test_accuracy": x, "macro_f1": y}.
"""

from __future__ import annotations

import json
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from annotate.exceptions import ServiceError
from labeling.models import DatasetVersion
from training.ml.config import ARCHS
from training.models import TrainingRun
from training.services import run_create, run_execute


class Command(BaseCommand):
    help = "Train a model on a dataset version (on a gpu worker, or in this process)."

    def add_base_argument(self, parser: CommandParser, *args: Any, **kwargs: Any) -> None:
        if "--version" not in args:  # ours is the dataset version (the CLI contract), not Django's version flag
            super().add_base_argument(parser, *args, **kwargs)

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--version", dest="version_id", type=int, required=True, help="DatasetVersion id")
        parser.add_argument("--arch", default="small_cnn", choices=ARCHS)
        parser.add_argument("--pretrained", action="store_true", help="start from the packaged ImageNet weights")
        parser.add_argument("--probe-epochs", type=int, help="--pretrained: linear-probe epochs on cached features")
        parser.add_argument("--epochs", type=int, help="training epochs (--pretrained: fine-tune epochs, may be 0)")
        parser.add_argument("--batch-size", type=int)
        parser.add_argument("--lr", type=float)
        parser.add_argument("--image-size", type=int)
        parser.add_argument("--workers", type=int, help="data-loading processes")
        parser.add_argument("--device", choices=["auto", "cpu", "cuda"])
        parser.add_argument("--transfer", choices=["auto", "probe", "fine_tune"], default="auto",
                            help="--pretrained: probe only or probe, then fine-tune; auto: by the data")  # fmt: skip
        parser.add_argument("--world-size", type=int, help="data-parallel processes (GPUs); --batch-size is global")
        mode = parser.add_mutually_exclusive_group()
        mode.add_argument("--wait", action="store_true", help="enqueue on gpu and wait for a worker")
        mode.add_argument("--foreground", action="store_true", help="run the task's code in this process")
        parser.add_argument("--timeout", type=float, default=7 * 24 * 3600, help="--wait: give up after seconds")
        parser.add_argument("--json", action="store_true", help="last line: JSON summary")

    def handle(self, *args: Any, **opts: Any) -> None:
        version = DatasetVersion.objects.filter(pk=opts["version_id"]).first()
        if version is None:
            raise CommandError(f"No dataset version {opts['version_id']}.")
        names = {"epochs": "epochs", "batch_size": "batch_size", "lr": "lr", "image_size": "image_size",
                 "workers": "workers", "device": "device", "probe_epochs": "probe_epochs",
                 "world_size": "world_size"}  # fmt: skip
        overrides = {key: opts[opt] for opt, key in names.items() if opts.get(opt) is not None}
        if opts["pretrained"]:
            overrides["pretrained"] = True
        try:
            with transaction.atomic():
                run = run_create(version=version, architecture=opts["arch"], overrides=overrides,
                                 enqueue=not opts["foreground"], transfer=opts["transfer"])  # fmt: skip
        except ServiceError as exc:
            raise CommandError(exc.message) from exc
        self.stderr.write(f"run {run.pk}: {run.architecture} on version {version.pk}, {run.epochs_total} epochs")
        if opts["foreground"]:
            run_execute(run_id=run.pk)
        elif opts["wait"]:
            self._wait(run.pk, opts["timeout"])
        run.refresh_from_db()
        for line in run.log_tail.splitlines()[-5:]:
            self.stderr.write(line)
        summary = {"run": run.pk, "status": run.status, "test_accuracy": run.test_accuracy, "macro_f1": run.macro_f1}
        self.stdout.write(json.dumps(summary) if opts["json"] else f"run {run.pk}: {run.status}")
        if run.status == TrainingRun.Status.FAILED:
            raise CommandError(f"run {run.pk} failed: {run.error}")

    def _wait(self, run_id: int, timeout: float) -> None:
        deadline, last = time.monotonic() + timeout, -1
        while time.monotonic() < deadline:
            status, epochs = TrainingRun.objects.filter(pk=run_id).values_list("status", "epochs_done").get()
            if epochs != last:
                self.stderr.write(f"run {run_id}: {status}, epoch {epochs}")
                last = epochs
            if status in TrainingRun.TERMINAL:
                return
            time.sleep(1.0)
        raise CommandError(f"run {run_id} not finished after {timeout:.0f}s (is a worker consuming the gpu queue?)")
