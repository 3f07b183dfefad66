"""train_one_epoch / evaluate, after torchvision's references/classification/train.py.

Both take uint8 batches from the loader, move them with `non_blocking=True` (pinned memory on CUDA) and
normalise on the device. Mixed precision (autocast, plus GradScaler for fp16) is used only on CUDA.
Running sums stay on the device during the epoch (no `.item()` sync per step) and are reduced across
ranks once at the end. `should_stop` is polled before every batch; a cancel returns `cancelled=True`.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from training.ml.distributed import all_reduce_sum
from training.ml.presets import Norm, normalize_batch

StopFn = Callable[[], bool]
Batch = tuple[torch.Tensor, torch.Tensor]


@dataclass
class EpochStats:
    loss: float
    accuracy: float
    images: int  # over all ranks
    seconds: float
    images_per_sec: float
    steps: int  # optimizer steps on this rank
    cancelled: bool = False


@dataclass
class EvalStats:
    loss: float
    accuracy: float
    top5_correct: int
    confusion: np.ndarray  # (K, K) int64, rows = truth
    images: int
    seconds: float
    cancelled: bool = False
    predicted: np.ndarray | None = None  # (n,) argmax per sample in loader order, with keep_predictions
    confidence: np.ndarray | None = None  # (n,) its softmax probability


def _autocast(device: torch.device, dtype: torch.dtype | None) -> contextlib.AbstractContextManager[None]:
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def to_device(
    images: torch.Tensor, device: torch.device, channels_last: bool, norm: Norm | None = None
) -> torch.Tensor:
    return normalize_batch(images.to(device, non_blocking=True), channels_last=channels_last, norm=norm)


def train_one_epoch(
    model: nn.Module,
    loader: Iterable[Batch],
    optimizer: torch.optim.Optimizer,
    criterion: nn.Module,
    device: torch.device,
    *,
    scaler: torch.amp.GradScaler | None = None,
    amp_dtype: torch.dtype | None = None,
    channels_last: bool = False,
    should_stop: StopFn | None = None,
    max_batches: int | None = None,
    norm: Norm | None = None,
) -> EpochStats:
    """One pass over `loader` (at most `max_batches`). Under DDP, `should_stop` must already agree across
    ranks (see distributed.any_rank), because every rank must run the same number of steps."""
    model.train()
    loss_sum = torch.zeros((), device=device)
    correct = torch.zeros((), device=device, dtype=torch.long)
    count = 0
    steps = 0
    cancelled = False
    use_scaler = scaler is not None and scaler.is_enabled()
    start = time.perf_counter()
    batches = iter(loader)
    while max_batches is None or steps < max_batches:
        if should_stop is not None and should_stop():
            cancelled = True
            break
        try:
            images, targets = next(batches)
        except StopIteration:
            break
        images = to_device(images, device, channels_last, norm)
        targets = targets.to(device, non_blocking=True)
        with _autocast(device, amp_dtype):
            logits = model(images)
            loss = criterion(logits, targets)
        optimizer.zero_grad(set_to_none=True)
        if use_scaler:
            assert scaler is not None
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
        else:
            loss.backward()
            optimizer.step()
        steps += 1
        n = targets.shape[0]
        count += n
        loss_sum += loss.detach().float() * n
        correct += (logits.detach().argmax(dim=1) == targets).sum()
    _sync(device)
    seconds = time.perf_counter() - start
    totals = all_reduce_sum(torch.stack([loss_sum, correct.float(), torch.tensor(float(count), device=device)]))
    loss_total, correct_total, n_total = totals.tolist()
    return EpochStats(
        loss=loss_total / n_total if n_total else 0.0,
        accuracy=correct_total / n_total if n_total else 0.0,
        images=int(n_total),
        seconds=seconds,
        images_per_sec=n_total / seconds if seconds > 0 else 0.0,
        steps=steps,
        cancelled=cancelled,
    )


@torch.inference_mode()
def evaluate(
    model: nn.Module,
    loader: Iterable[Batch],
    criterion: nn.Module,
    device: torch.device,
    num_classes: int,
    *,
    amp_dtype: torch.dtype | None = None,
    channels_last: bool = False,
    should_stop: StopFn | None = None,
    norm: Norm | None = None,
    keep_predictions: bool = False,
) -> EvalStats:
    """Loss, accuracy, top-5 hits and the confusion matrix, summed over ranks (each rank sees its shard).

    Pass the unwrapped model, not the DDP wrapper: shards may differ by one batch and DDP's forward can
    run collectives. A local cancel stops this rank early; the caller makes the decision agree.
    """
    model.eval()
    loss_sum = torch.zeros((), device=device)
    top5 = torch.zeros((), device=device, dtype=torch.long)
    confusion = torch.zeros(num_classes * num_classes, device=device, dtype=torch.long)
    k = min(5, num_classes)
    cancelled = False
    kept: list[torch.Tensor] = []
    start = time.perf_counter()
    for images, targets in loader:
        if should_stop is not None and should_stop():
            cancelled = True
            break
        images = to_device(images, device, channels_last, norm)
        targets = targets.to(device, non_blocking=True)
        with _autocast(device, amp_dtype):
            logits = model(images)
        logits = logits.float()
        loss_sum += criterion(logits, targets) * targets.shape[0]
        top5 += (logits.topk(k, dim=1).indices == targets[:, None]).any(dim=1).sum()
        confusion += torch.bincount(targets * num_classes + logits.argmax(dim=1), minlength=num_classes**2)
        if keep_predictions:
            kept.append(torch.softmax(logits, dim=1).max(dim=1))  # type: ignore[arg-type]
    _sync(device)
    seconds = time.perf_counter() - start
    confusion = all_reduce_sum(confusion)
    sums = all_reduce_sum(torch.stack([loss_sum, top5.float()]))
    cm = confusion.view(num_classes, num_classes).cpu().numpy().astype(np.int64)
    n = int(cm.sum())
    predicted = confidence = None
    if keep_predictions:
        predicted = np.concatenate([m.indices.cpu().numpy() for m in kept]) if kept else np.zeros(0, np.int64)
        confidence = np.concatenate([m.values.cpu().numpy() for m in kept]) if kept else np.zeros(0, np.float32)
    return EvalStats(
        loss=sums[0].item() / n if n else 0.0,
        accuracy=float(np.trace(cm) / n) if n else 0.0,
        top5_correct=int(sums[1].item()),
        confusion=cm,
        images=n,
        seconds=seconds,
        cancelled=cancelled,
        predicted=predicted,
        confidence=confidence,
    )


@torch.inference_mode()
def predict_proba(
    model: nn.Module,
    loader: Iterable[Batch],
    device: torch.device,
    *,
    amp_dtype: torch.dtype | None = None,
    channels_last: bool = False,
    norm: Norm | None = None,
) -> np.ndarray:
    """Softmax probabilities (n, K) float32 in loader order."""
    model.eval()
    out: list[np.ndarray] = []
    for images, _ in loader:
        with _autocast(device, amp_dtype):
            logits = model(to_device(images, device, channels_last, norm))
        out.append(torch.softmax(logits.float(), dim=1).cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, 0), dtype=np.float32)
