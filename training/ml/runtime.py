"""Process-level set-up of a training run: seeding and determinism, CPU threads, data loaders, weight digests."""

from __future__ import annotations

import contextlib
import hashlib
import random
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, Sampler

from training.ml.config import TrainConfig, resolve_device


def make_loader(
    dataset: Dataset[Any],
    batch_size: int,
    sampler: Sampler[int],
    workers: int,
    device: torch.device,
    seed: int = 0,
) -> DataLoader[Any]:
    """DataLoader with the settings that keep a GPU fed: pinned memory on CUDA, persistent workers.

    Its own seeded generator fixes the workers' base seed (augmentation randomness) whatever else drew from
    the global RNG before."""
    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        num_workers=workers,
        pin_memory=device.type == "cuda",
        persistent_workers=workers > 0,
        prefetch_factor=4 if workers > 0 else None,
        generator=torch.Generator().manual_seed(seed),
    )


@contextlib.contextmanager
def deterministic(seed: int, device: torch.device) -> Iterator[None]:
    """Seed python, numpy and torch; on CPU also ask torch for deterministic algorithms (cheap there: the
    CPU kernels we use have deterministic versions). The global switch is restored on exit, so a worker
    process that trains on CUDA afterwards is not slowed down. Results can still differ between machines
    with other SIMD kernels or thread counts (float sums in another order): tests assert with margins."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    before = torch.are_deterministic_algorithms_enabled()
    if device.type == "cpu":
        torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(before)


@contextlib.contextmanager
def cudnn_benchmark(enabled: bool) -> Iterator[None]:
    """cuDNN autotuning (fastest kernels for fixed input shapes) for the run only: the process-wide switch is
    put back on exit, so a worker that later runs something else (or a deterministic job) is not affected."""
    before = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = enabled
    try:
        yield
    finally:
        torch.backends.cudnn.benchmark = before


def weights_digest(model: nn.Module) -> str:
    """sha256 over the state dict (parameters and buffers), to compare replicas."""
    h = hashlib.sha256()
    for key, value in sorted(model.state_dict().items()):
        h.update(key.encode())
        h.update(value.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


@contextlib.contextmanager
def cpu_threads(config: TrainConfig, world_size: int = 1) -> Iterator[None]:
    """Apply config.cpu_threads (else share the cores among ranks) for CPU training; restore on exit.

    On a busy or small machine fewer intra-op threads than cores avoids OpenMP spin-waiting against the
    DataLoader workers and other processes, which can cost an order of magnitude.
    """
    before = torch.get_num_threads()
    wanted = config.cpu_threads or (max(1, before // world_size) if world_size > 1 else before)
    if resolve_device(config.device).type == "cpu" and wanted != before:
        torch.set_num_threads(wanted)
    try:
        yield
    finally:
        if torch.get_num_threads() != before:
            torch.set_num_threads(before)
