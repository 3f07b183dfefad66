"""Public entry points: `train` (single process or DDP) and `predict` (model-in-the-loop).

`train` resumes from `checkpoint_dir/last.pt` when present (the history continues; a finished run just
re-evaluates), writes `last.pt` after every completed epoch (and after a pretrained probe) and `best.pt` when
validation accuracy improves, tells `on_checkpoint(path, epoch)` each time `last.pt` was written (so the
caller can copy it off the machine), reports each epoch through `on_epoch` and polls `should_stop` before
every batch, every feature batch and every probe epoch; under DDP each check is agreed by all ranks. A cancel
keeps the last completed epoch's checkpoint: the partial epoch is discarded, and a later resume redoes it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler

from training.ml import distributed as dist_utils
from training.ml.checkpoint import (
    BEST_NAME,
    LAST_NAME,
    CheckpointError,
    build_state,
    latest_checkpoint,
    load_checkpoint,
    restore_rng,
    save_checkpoint,
)
from training.ml.config import TrainConfig, amp_dtype, resolve_device
from training.ml.datasets import ImagePaths, load_splits, read_class_wnids
from training.ml.engine import evaluate, predict_proba, train_one_epoch
from training.ml.metrics import classification_report, misclassified
from training.ml.nets import build_model
from training.ml.optim import build_optimizer, build_scheduler, sync_lr
from training.ml.presets import Norm, decode_size_for, eval_transforms, train_transforms
from training.ml.pretrained import imagenet_head_rows
from training.ml.runtime import cpu_threads, cudnn_benchmark, deterministic, make_loader, weights_digest
from training.ml.transfer import probe_stage

log = logging.getLogger(__name__)

EpochCallback = Callable[[dict[str, Any]], None]
StopCallback = Callable[[], bool]
CheckpointCallback = Callable[[str, int], None]  # (path of last.pt, completed epochs), after it was written


@dataclass
class TrainResult:
    status: str  # "completed" | "cancelled"
    epochs_completed: int
    history: list[dict[str, Any]]
    final_metrics: dict[str, Any] | None  # classification_report on test (else val); None when cancelled
    final_split: str | None
    best_checkpoint: str | None
    last_checkpoint: str | None
    classes: list[str]
    weights_digests: list[str] = field(default_factory=list)  # one per rank; all equal under DDP
    # Misclassified final-split images, most confident first (single process only): the run page's gallery.
    mistakes: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _fit(
    rank: int,
    world_size: int,
    config: TrainConfig,
    data_root: str,
    emit: EpochCallback | None,
    stop: StopCallback | None,
    saved: CheckpointCallback | None = None,
) -> TrainResult:
    """The training run as seen by one rank (the whole run when world_size == 1)."""
    device = resolve_device(config.device, rank)
    with deterministic(config.seed, device), cudnn_benchmark(device.type == "cuda"):
        return _fit_seeded(rank, world_size, config, data_root, emit, stop, saved, device)


def _fit_seeded(
    rank: int,
    world_size: int,
    config: TrainConfig,
    data_root: str,
    emit: EpochCallback | None,
    stop: StopCallback | None,
    saved: CheckpointCallback | None,
    device: torch.device,
) -> TrainResult:
    is_main = rank == 0
    batch = config.rank_batch_size  # the global batch split over the ranks (config.world_size == world_size)

    decode = decode_size_for(config.image_size)
    classes, splits = load_splits(
        data_root, train_transforms(config.image_size, config.augmentation), eval_transforms(config.image_size), decode
    )
    if config.num_classes and config.num_classes != len(classes):
        raise ValueError(f"config.num_classes={config.num_classes} but the data has {len(classes)} classes")
    config = config.replace(num_classes=len(classes))
    if len(splits["train"]) == 0:
        raise ValueError(f"no training images under {data_root}/train")

    train_sampler = DistributedSampler(splits["train"], world_size, rank, shuffle=True, seed=config.seed)
    train_loader = make_loader(splits["train"], batch, train_sampler, config.workers, device, config.seed)
    val_loader = None
    if len(splits["val"]):
        val_sampler = dist_utils.ShardSampler(len(splits["val"]), rank, world_size)
        val_loader = make_loader(splits["val"], batch, val_sampler, config.workers, device, config.seed)

    ckpt_path = latest_checkpoint(config.checkpoint_dir) if config.resume else None
    state = load_checkpoint(ckpt_path, map_location=device) if ckpt_path else None
    fresh_pretrained = config.pretrained and state is None
    model = build_model(
        config.arch, len(classes), None if state else config.initial_weights, pretrained=fresh_pretrained
    ).to(device)
    if config.channels_last:
        model = model.to(memory_format=torch.channels_last)
    optimizer = build_optimizer(model, config)
    scheduler = build_scheduler(optimizer, config)
    dtype = amp_dtype(device, config.amp)
    scaler = torch.amp.GradScaler(device.type, enabled=dtype == torch.float16)
    criterion = nn.CrossEntropyLoss(label_smoothing=config.label_smoothing)

    start_epoch, history = 0, []
    if state is not None:
        start_epoch, history = _restore(state, str(ckpt_path), config, classes, model, optimizer, scheduler, scaler)
        del state

    net: nn.Module = model

    def cancelled() -> bool:  # the same answer on every rank: each rank calls it at the same points
        return dist_utils.any_rank(bool(stop and stop()))

    ckpt_dir = Path(config.checkpoint_dir) if config.checkpoint_dir else None

    def save_last(ckpt: dict[str, Any], epoch: int, best: bool) -> None:
        if ckpt_dir is None:
            return
        path = save_checkpoint(ckpt, ckpt_dir / LAST_NAME, is_main=is_main)
        if best:
            save_checkpoint(ckpt, ckpt_dir / BEST_NAME, is_main=is_main)
        if path is not None and saved is not None:
            saved(str(path), epoch)

    best_acc = max((h["val_acc"] for h in history if h.get("val_acc") is not None), default=-1.0)
    status = "completed"
    norm: Norm = (config.spec.mean, config.spec.std)
    amp_kw = {"amp_dtype": dtype, "channels_last": config.channels_last, "norm": norm}

    if fresh_pretrained:  # stage 1: linear probe on cached features (the fine-tune below starts from its head)
        init = imagenet_head_rows(config.arch, read_class_wnids(data_root, len(classes)))
        probed = probe_stage(
            model, config, splits, len(classes), device, amp_kw, cancelled, emit if is_main else None, init
        )
        if probed is None:
            status = "cancelled"
        else:
            history = probed
            start_epoch = len(history)
            best_acc = max((h["val_acc"] for h in history if h.get("val_acc") is not None), default=-1.0)
            if ckpt_dir is not None:
                ckpt = build_state(
                    model=model, optimizer=optimizer, scheduler=scheduler, scaler=scaler, epoch=start_epoch,
                    config=config.to_dict(), history=history, classes=classes,
                )  # fmt: skip
                save_last(ckpt, start_epoch, best=True)

    if world_size > 1 and status == "completed":  # after the probe: DDP broadcasts rank 0's parameters when built
        net = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)

    for epoch in range(start_epoch, config.total_epochs if status == "completed" else 0):
        train_sampler.set_epoch(epoch)
        lr = optimizer.param_groups[0]["lr"]
        stats = train_one_epoch(
            net, train_loader, optimizer, criterion, device, scaler=scaler, should_stop=cancelled,
            max_batches=config.max_train_batches, **amp_kw,
        )  # fmt: skip
        if stats.cancelled:
            status = "cancelled"
            break
        dist_utils.sync_buffers(model)
        val = (
            evaluate(model, val_loader, criterion, device, len(classes), should_stop=stop, **amp_kw)
            if val_loader
            else None
        )
        if val is not None and dist_utils.any_rank(val.cancelled):
            status = "cancelled"
            break
        scheduler.step()
        metrics = {
            "epoch": epoch + 1,
            "train_loss": stats.loss,
            "train_acc": stats.accuracy,
            "val_loss": val.loss if val else None,
            "val_acc": val.accuracy if val else None,
            "lr": lr,
            "images_per_sec": stats.images_per_sec,
            "seconds": stats.seconds + (val.seconds if val else 0.0),
            "steps": stats.steps,
        }
        history.append(metrics)
        if ckpt_dir is not None:
            ckpt = build_state(
                model=model, optimizer=optimizer, scheduler=scheduler, scaler=scaler, epoch=epoch + 1,
                config=config.to_dict(), history=history, classes=classes,
            )  # fmt: skip
            better = val is not None and val.accuracy > best_acc
            if val is not None and better:
                best_acc = val.accuracy
            save_last(ckpt, epoch + 1, best=better)
        if is_main and emit is not None:
            emit(metrics)

    final_metrics, final_split = None, None
    mistakes: list[dict[str, Any]] = []
    if status == "completed":
        final_split = "test" if len(splits["test"]) else ("val" if len(splits["val"]) else None)
        if final_split is not None:
            sampler = dist_utils.ShardSampler(len(splits[final_split]), rank, world_size)
            loader = make_loader(splits[final_split], batch, sampler, config.workers, device, config.seed)
            res = evaluate(model, loader, criterion, device, len(classes), should_stop=stop,
                           keep_predictions=world_size == 1, **amp_kw)  # fmt: skip
            if dist_utils.any_rank(res.cancelled):
                status, final_split = "cancelled", None
            else:
                final_metrics = {**classification_report(res.confusion, classes, res.top5_correct), "loss": res.loss}
                mistakes = misclassified(splits[final_split], res.predicted, res.confidence)

    def existing(name: str) -> str | None:
        return str(ckpt_dir / name) if ckpt_dir is not None and (ckpt_dir / name).is_file() else None

    return TrainResult(
        status=status,
        epochs_completed=len(history),
        history=history,
        final_metrics=final_metrics,
        final_split=final_split,
        best_checkpoint=existing(BEST_NAME),
        last_checkpoint=existing(LAST_NAME),
        classes=classes,
        weights_digests=[weights_digest(model)],
        mistakes=mistakes,
    )


def _restore(
    state: dict[str, Any],
    path: str,
    config: TrainConfig,
    classes: list[str],
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LambdaLR,
    scaler: torch.amp.GradScaler,
) -> tuple[int, list[dict[str, Any]]]:
    """Load a checkpoint's states into the fresh objects; returns (completed epochs, history)."""
    if state["classes"] != classes or state["config"].get("arch") != config.arch:
        raise CheckpointError(f"{path} was trained on other classes or another arch; use a new checkpoint_dir")
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    if state.get("scaler") and scaler.is_enabled():
        scaler.load_state_dict(state["scaler"])
    sync_lr(optimizer, scheduler, config)  # the schedule of *this* config (e.g. more epochs than before)
    restore_rng(state)
    log.info("resumed from %s after epoch %d", path, state["epoch"])
    return int(state["epoch"]), list(state["history"])


def _ddp_worker(
    rank: int, queue: Any, stop_event: Any, world_size: int, port: int, config: dict[str, Any], root: str
) -> None:
    """One spawned rank: metrics, checkpoint notices and the result go back to the parent through `queue`
    (rank 0 puts a checkpoint notice before the epoch it belongs to: the queue keeps that order)."""
    cfg = TrainConfig.from_dict(config)
    device = resolve_device(cfg.device, rank)
    dist_utils.init_process_group(rank, world_size, port, device)
    try:
        with cpu_threads(cfg, world_size):
            result = _fit(
                rank, world_size, cfg, root, lambda m: queue.put(("epoch", m)), stop_event.is_set,
                lambda path, epoch: queue.put(("checkpoint", path, epoch)),
            )  # fmt: skip
        queue.put(("result", rank, result.to_dict()))
    finally:
        dist_utils.destroy_process_group()


def train(
    config: TrainConfig,
    data_root: str | Path,
    on_epoch: EpochCallback | None = None,
    should_stop: StopCallback | None = None,
    on_checkpoint: CheckpointCallback | None = None,
) -> TrainResult:
    """Train `config.arch` on the imagefolder export at `data_root` with `config.world_size` processes (one
    per GPU; gloo processes on CPU); see the module docstring."""
    world_size = config.world_size
    if world_size == 1:
        with cpu_threads(config):
            return _fit(0, 1, config, str(data_root), on_epoch, should_stop, on_checkpoint)
    if resolve_device(config.device).type == "cuda" and world_size > torch.cuda.device_count():
        raise ValueError(f"world_size={world_size} but only {torch.cuda.device_count()} GPUs")
    results: dict[int, dict[str, Any]] = {}

    def on_message(msg: tuple[Any, ...]) -> None:
        if msg[0] == "epoch" and on_epoch is not None:
            on_epoch(msg[1])
        elif msg[0] == "checkpoint" and on_checkpoint is not None:
            on_checkpoint(msg[1], msg[2])
        elif msg[0] == "result":
            results[msg[1]] = msg[2]

    port = dist_utils.find_free_port()
    args = (world_size, port, config.to_dict(), str(data_root))
    dist_utils.launch(_ddp_worker, world_size, args, on_message=on_message, should_stop=should_stop)
    if sorted(results) != list(range(world_size)):
        missing = sorted(set(range(world_size)) - set(results))
        raise RuntimeError(f"distributed training ended without results from ranks {missing}")
    main = TrainResult(**results[0])
    main.weights_digests = [results[r]["weights_digests"][0] for r in range(world_size)]
    return main


def predict(
    checkpoint_path: str | Path,
    image_paths: Sequence[str | Path],
    batch_size: int = 64,
    device: str = "auto",
    workers: int = 0,
) -> np.ndarray:
    """Class probabilities (n, K) float32 for image files, in order; K = len(checkpoint["classes"])."""
    state = load_checkpoint(checkpoint_path)
    config = TrainConfig.from_dict(state["config"])
    num_classes = len(state["classes"])
    dev = resolve_device(device)
    model = build_model(config.arch, num_classes)  # the checkpoint holds every weight: never the package's
    model.load_state_dict(state["model"])
    model.to(dev)
    if config.channels_last:
        model = model.to(memory_format=torch.channels_last)
    if not image_paths:
        return np.zeros((0, num_classes), dtype=np.float32)
    dataset = ImagePaths(image_paths, eval_transforms(config.image_size), decode_size_for(config.image_size))
    loader = DataLoader(dataset, batch_size=batch_size, num_workers=workers, pin_memory=dev.type == "cuda")
    return predict_proba(
        model,
        loader,
        dev,
        amp_dtype=amp_dtype(dev, config.amp),
        channels_last=config.channels_last,
        norm=(config.spec.mean, config.spec.std),
    )
