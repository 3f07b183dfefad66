"""Transfer learning recipes: cached backbone features and a linear probe on them.

A linear probe (multinomial logistic regression on the frozen backbone's pooled features) is the standard
first step of transfer learning (Kornblith et al., "Do Better ImageNet Models Transfer Better?", 2019): the
features are computed once (eval transforms, no augmentation), so each probe epoch costs a (N, D) x (D, K)
matmul instead of a backbone pass. The fitted head then initialises the optional full fine-tune (run.py), which
starts from a good head instead of a random one (Kumar et al., "Fine-Tuning can Distort Pretrained Features",
2022: linear probe, then fine-tune). The same two functions give the K-fold out-of-sample probabilities used
for label-error detection.
"""

from __future__ import annotations

import contextlib
import copy
import math
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.data import DataLoader

from training.ml.config import TrainConfig
from training.ml.engine import _autocast, to_device
from training.ml.presets import Norm
from training.ml.pretrained import backbone_features

Batch = tuple[torch.Tensor, torch.Tensor]
EpochCallback = Callable[[dict[str, Any]], None]
StopCallback = Callable[[], bool]


@dataclass
class Features:
    x: np.ndarray  # (N, D) float32
    y: np.ndarray  # (N,) int64 (the loader's targets)
    cancelled: bool = False
    seconds: float = 0.0


@torch.inference_mode()
def extract_features(
    model: nn.Module,
    loader: Iterable[Batch],
    device: torch.device,
    *,
    norm: Norm | None = None,
    amp_dtype: torch.dtype | None = None,
    channels_last: bool = False,
    should_stop: Callable[[], bool] | None = None,
) -> Features:
    """Pooled backbone features of every batch, in loader order (the model is put in eval mode)."""
    model.eval()
    xs: list[np.ndarray] = []
    ys: list[np.ndarray] = []
    start = time.perf_counter()
    for images, targets in loader:
        if should_stop is not None and should_stop():
            return Features(np.zeros((0, 0), np.float32), np.zeros(0, np.int64), True, time.perf_counter() - start)
        with _autocast(device, amp_dtype):
            feats = backbone_features(model, to_device(images, device, channels_last, norm))
        xs.append(feats.float().cpu().numpy())
        ys.append(np.asarray(targets, dtype=np.int64))
    x = np.concatenate(xs) if xs else np.zeros((0, 0), np.float32)
    return Features(x, np.concatenate(ys) if ys else np.zeros(0, np.int64), False, time.perf_counter() - start)


@dataclass
class ProbeConfig:
    epochs: int = 60
    lr: float = 1e-3
    weight_decay: float = 1e-4
    batch_size: int = 64
    label_smoothing: float = 0.0
    seed: int = 0


@dataclass
class LinearProbe:
    weight: np.ndarray  # (K, D)
    bias: np.ndarray  # (K,)
    history: list[dict[str, float]]
    cancelled: bool = False  # `should_stop` said so before an epoch: the head is the last completed epoch's

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        logits = torch.from_numpy(np.asarray(x, np.float32)) @ torch.from_numpy(self.weight).T
        return torch.softmax(logits + torch.from_numpy(self.bias), dim=1).numpy()


@contextlib.contextmanager
def _one_thread() -> Iterator[None]:
    """The probe's matmuls are tiny ((64, D) x (D, K)): extra intra-op threads only spin-wait against each
    other (measured 30x slower with 2 threads on a busy 2-core machine)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def fit_linear_probe(
    x: np.ndarray,
    y: np.ndarray,
    num_classes: int,
    config: ProbeConfig,
    *,
    val: tuple[np.ndarray, np.ndarray] | None = None,
    on_epoch: Callable[[dict[str, float]], None] | None = None,
    init: tuple[np.ndarray, np.ndarray] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> LinearProbe:
    """Softmax regression on cached features: AdamW, cosine lr, seeded shuffles (deterministic on CPU).

    `init` (weight (K, D), bias (K,)) starts the head somewhere else than zero: the pretrained classifier's
    rows for classes that are ImageNet classes (see imagenet_head_init). `should_stop` is asked before every
    epoch (under DDP it must give every rank the same answer: run.py passes the agreed check)."""
    with _one_thread():
        return _fit_linear_probe(x, y, num_classes, config, val, on_epoch, init, should_stop)


def _fit_linear_probe(
    x: np.ndarray,
    y: np.ndarray,
    num_classes: int,
    config: ProbeConfig,
    val: tuple[np.ndarray, np.ndarray] | None,
    on_epoch: Callable[[dict[str, float]], None] | None,
    init: tuple[np.ndarray, np.ndarray] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> LinearProbe:
    gen = torch.Generator().manual_seed(config.seed)
    xt = torch.from_numpy(np.asarray(x, np.float32))
    yt = torch.from_numpy(np.asarray(y, np.int64))
    head = nn.Linear(xt.shape[1], num_classes)
    with torch.no_grad():
        if init is None:
            head.weight.zero_()
            head.bias.zero_()
        else:
            head.weight.copy_(torch.from_numpy(np.asarray(init[0], np.float32)))
            head.bias.copy_(torch.from_numpy(np.asarray(init[1], np.float32)))
    opt = torch.optim.AdamW(head.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    steps_per_epoch = max(1, math.ceil(len(xt) / config.batch_size))
    total = steps_per_epoch * config.epochs
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1 + math.cos(math.pi * min(s, total) / total)))
    history: list[dict[str, float]] = []
    cancelled = False
    for epoch in range(config.epochs):
        if should_stop is not None and should_stop():
            cancelled = True
            break
        start = time.perf_counter()
        lr = opt.param_groups[0]["lr"]
        order = torch.randperm(len(xt), generator=gen)
        loss_sum, correct = 0.0, 0
        for i in range(0, len(xt), config.batch_size):
            idx = order[i : i + config.batch_size]
            logits = head(xt[idx])
            loss = F.cross_entropy(logits, yt[idx], label_smoothing=config.label_smoothing)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            loss_sum += float(loss.detach()) * len(idx)
            correct += int((logits.detach().argmax(1) == yt[idx]).sum())
        row = {"epoch": epoch + 1, "train_loss": loss_sum / len(xt), "train_acc": correct / len(xt),
               "val_loss": None, "val_acc": None, "lr": lr, "steps": steps_per_epoch}  # fmt: skip
        if val is not None and len(val[1]):
            with torch.no_grad():
                vl = head(torch.from_numpy(np.asarray(val[0], np.float32)))
                vy = torch.from_numpy(np.asarray(val[1], np.int64))
                row["val_loss"] = float(F.cross_entropy(vl, vy))
                row["val_acc"] = float((vl.argmax(1) == vy).float().mean())
        seconds = time.perf_counter() - start
        row.update(seconds=seconds, images_per_sec=len(xt) / seconds if seconds > 0 else 0.0)
        history.append(row)
        if on_epoch is not None:
            on_epoch(row)
    return LinearProbe(head.weight.detach().numpy().copy(), head.bias.detach().numpy().copy(), history, cancelled)


def cv_probe_config(has_imagenet_rows: bool, seed: int) -> ProbeConfig:
    """ImageNet-synset classes start from the pretrained head's rows and only need refining (lower lr,
    fewer epochs); other classes learn a head from zero (bench/RESULTS.md has both measured)."""
    if has_imagenet_rows:
        return ProbeConfig(epochs=10, lr=1e-4, weight_decay=1e-4, batch_size=64, seed=seed)
    return ProbeConfig(epochs=60, lr=1e-3, weight_decay=1e-4, batch_size=64, seed=seed)


def out_of_fold_proba(
    x: np.ndarray,
    y: np.ndarray,
    num_classes: int,
    folds: int,
    config: ProbeConfig,
    init: tuple[np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """(N, K) probabilities where each row comes from a probe that never saw that row (stratified K folds)."""
    if folds < 2:
        raise ValueError("folds must be >= 2")
    rng = np.random.default_rng(config.seed)
    fold = np.empty(len(y), dtype=np.int64)
    for k in range(num_classes):  # stratified: each class spread evenly over the folds
        idx = np.flatnonzero(y == k)
        rng.shuffle(idx)
        fold[idx] = np.arange(len(idx)) % folds
    out = np.zeros((len(y), num_classes), dtype=np.float32)
    for f in range(folds):
        held = fold == f
        if not held.any():
            continue
        probe = fit_linear_probe(x[~held], y[~held], num_classes, config, init=init)
        out[held] = probe.predict_proba(x[held])
    return out


def set_head(model: nn.Module, probe: LinearProbe) -> None:
    """Copy a fitted probe into the model's linear classifier."""
    from training.ml.pretrained import classifier

    head = classifier(model)
    with torch.no_grad():
        head.weight.copy_(torch.from_numpy(probe.weight))
        head.bias.copy_(torch.from_numpy(probe.bias))


# Classes that are ImageNet synsets start from the pretrained classifier's rows, already a good solution
# (98.7 % on imagenette with no label at all): a 10x lower probe lr refines them without walking away
# (1,000 crowd labels: 99.0 % at lr 1e-4 vs 98.3 % at 1e-3, and 97.3 % from a zero head; bench/RESULTS.md).
IMAGENET_INIT_LR_SCALE = 0.1


def probe_stage(
    model: nn.Module,
    config: TrainConfig,
    splits: dict[str, Any],
    num_classes: int,
    device: torch.device,
    amp_kw: dict[str, Any],
    stop: StopCallback | None,
    emit: EpochCallback | None,
    init: tuple[np.ndarray, np.ndarray] | None = None,
) -> list[dict[str, Any]] | None:
    """Features of train (eval transforms: the probe sees each image once, unaugmented) and val, then
    `probe_epochs` of softmax regression; the head goes into `model`. None when cancelled. Every rank computes
    the same features of the whole split (the probe is cheap next to them, and DDP then starts in agreement),
    so every rank asks `stop` at the same points: under DDP it must be the agreed check (run.py's
    `cancelled`), or one rank could stop while the other goes on into collectives alone."""
    feats = {}
    for split in ("train", "val"):
        ds = copy.copy(splits[split])
        ds.transform = splits["test"].transform  # eval transforms
        if not len(ds):
            continue
        loader = DataLoader(ds, batch_size=config.rank_batch_size, num_workers=config.workers,
                            pin_memory=device.type == "cuda")  # fmt: skip
        f = extract_features(model, loader, device, should_stop=stop, **amp_kw)
        if f.cancelled:
            return None
        feats[split] = f
    train_f = feats["train"]
    probe_cfg = ProbeConfig(
        epochs=config.probe_epochs, lr=config.lr * (IMAGENET_INIT_LR_SCALE if init is not None else 1.0),
        weight_decay=config.weight_decay, batch_size=config.batch_size, seed=config.seed,
    )  # fmt: skip
    val = (feats["val"].x, feats["val"].y) if "val" in feats else None
    extract_seconds = sum(f.seconds for f in feats.values())

    def on_epoch(row: dict[str, Any]) -> None:
        if row["epoch"] == 1:  # the feature pass is part of the first probe epoch's cost
            row["seconds"] += extract_seconds
        row["stage"] = "probe"
        if emit is not None:
            emit(row)

    probe = fit_linear_probe(
        train_f.x, train_f.y, num_classes, probe_cfg, val=val, on_epoch=on_epoch, init=init, should_stop=stop
    )
    if probe.cancelled:
        return None
    set_head(model, probe)
    return probe.history
