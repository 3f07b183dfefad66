"""What the training workers can run on: each `gpu`-queue worker reports its CUDA devices when it starts and says
when it stops (annotate/celery.py hooks Celery's worker_ready / worker_shutdown, the only start and stop events a
worker has). A run asking for "cuda" is checked against the workers up now (training.services.runs.run_create)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from django.utils import timezone

from training.models import TrainingWorker

_PROBE = (
    "import json, torch\n"
    "n = torch.cuda.device_count() if torch.cuda.is_available() else 0\n"
    "print(json.dumps([n, torch.cuda.get_device_name(0) if n else '']))"
)


def cuda_probe(timeout: float = 120.0) -> tuple[int, str]:
    """(CUDA devices, the first one's name) as a fresh process sees them: never in the worker's own process, whose
    pool children are forked later (CUDA initialised before a fork is unusable in the children). A machine with no
    NVIDIA device node has none, said without starting PyTorch (seconds per worker start)."""
    if not any(Path(p).exists() for p in ("/dev/nvidia0", "/dev/nvidiactl", "/proc/driver/nvidia")):
        return 0, ""
    return torch_cuda_probe(timeout)


def torch_cuda_probe(timeout: float = 120.0) -> tuple[int, str]:
    """What PyTorch sees in a fresh process (CUDA_VISIBLE_DEVICES and the driver included)."""
    try:
        out = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True, timeout=timeout,
                             check=True)  # fmt: skip
        n, name = json.loads(out.stdout.strip().splitlines()[-1])
        return int(n), str(name)
    except (OSError, ValueError, IndexError, subprocess.SubprocessError):
        return 0, ""


def training_worker_report(*, hostname: str, cuda_devices: int, device_name: str = "") -> TrainingWorker:
    """A worker started: record (or refresh) what it can run on."""
    worker, _ = TrainingWorker.objects.update_or_create(
        hostname=hostname[:255],
        defaults={"cuda_devices": max(0, int(cuda_devices)), "device_name": device_name[:128],
                  "started_at": timezone.now(), "stopped_at": None},
    )  # fmt: skip
    return worker


def training_worker_stopped(*, hostname: str) -> None:
    TrainingWorker.objects.filter(hostname=hostname[:255], stopped_at__isnull=True).update(stopped_at=timezone.now())


def cuda_workers() -> tuple[bool | None, list[str]]:
    """(whether a worker up now has CUDA, those workers' names): None when no worker has reported (unknown; a run
    is then accepted, and fails at its start on a worker without CUDA, as the start page says)."""
    up = list(TrainingWorker.objects.filter(stopped_at__isnull=True).values_list("hostname", "cuda_devices"))
    if not up:
        return None, []
    return any(n > 0 for _, n in up), [name for name, _ in up]
