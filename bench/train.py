"""Is the data pipeline the bottleneck? Training images/s through the real pipeline, as a ratio to the
model-only step rate.

Both numbers come from the same `engine.train_one_epoch`, same model recipe, batch shape and device, in
the same run: once fed by a DataLoader over image files on disk (decode with PIL draft + transforms in
workers, pinned memory on CUDA), once fed by one uint8 batch already in memory. Ratio >= 0.9 means the
loader keeps the device busy. Uses ../shared/data/images/imagenette_224 when present, else writes shapes.

    .venv/bin/python bench/train.py                       # resnet18 @112 px on CPU, workers 0,1
    .venv/bin/python bench/train.py --arch small_cnn --image-size 32 --workers 0,1,2
    python bench/train.py --device cuda --image-size 224 --batch-size 128 --workers 8 --channels-last --amp
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DistributedSampler

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from training.ml.config import TrainConfig, amp_dtype, resolve_device
from training.ml.datasets import load_splits
from training.ml.engine import train_one_epoch
from training.ml.nets import build_model
from training.ml.optim import build_optimizer
from training.ml.presets import decode_size_for, eval_transforms, train_transforms
from training.ml.runtime import make_loader

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "images" / "imagenette_224"


def _setup(config: TrainConfig, num_classes: int) -> tuple[nn.Module, torch.optim.Optimizer, torch.device]:
    torch.manual_seed(0)
    device = resolve_device(config.device)
    model = build_model(config.arch, num_classes).to(device)
    if config.channels_last:
        model = model.to(memory_format=torch.channels_last)
    return model, build_optimizer(model, config), device


def _run(config: TrainConfig, model: nn.Module, opt: torch.optim.Optimizer, device: torch.device, batches: object,
         steps: int) -> float:  # fmt: skip
    dtype = amp_dtype(device, config.amp)
    scaler = torch.amp.GradScaler(device.type, enabled=dtype == torch.float16)
    stats = train_one_epoch(
        model, batches, opt, nn.CrossEntropyLoss(), device, scaler=scaler, amp_dtype=dtype,  # type: ignore[arg-type]
        channels_last=config.channels_last, max_batches=steps,
    )  # fmt: skip
    return stats.images_per_sec


def model_only_rate(config: TrainConfig, num_classes: int, steps: int, warmup: int) -> float:
    """Step rate on one in-memory uint8 batch (the same tensors every step)."""
    model, opt, device = _setup(config, num_classes)
    images = torch.randint(0, 256, (config.batch_size, 3, config.image_size, config.image_size), dtype=torch.uint8)
    targets = torch.randint(0, num_classes, (config.batch_size,))
    if device.type == "cuda":
        images, targets = images.pin_memory(), targets.pin_memory()
    _run(config, model, opt, device, [(images, targets)] * warmup, warmup)
    return _run(config, model, opt, device, [(images, targets)] * steps, steps)


def pipeline_rate(config: TrainConfig, root: Path, steps: int, warmup: int) -> tuple[float, int]:
    """Step rate fed by the real DataLoader over files (warm persistent workers, new epoch for the timing)."""
    decode = decode_size_for(config.image_size)
    train_tf = train_transforms(config.image_size, config.augmentation)
    classes, splits = load_splits(root, train_tf, eval_transforms(config.image_size), decode)
    dataset = splits["train"]
    sampler = DistributedSampler(dataset, 1, 0, shuffle=True, seed=0)
    device = resolve_device(config.device)
    loader = make_loader(dataset, config.batch_size, sampler, config.workers, device)
    model, opt, device = _setup(config, len(classes))
    _run(config, model, opt, device, loader, warmup)
    sampler.set_epoch(1)
    rate = _run(config, model, opt, device, loader, steps)
    del loader
    return rate, len(dataset)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=DEFAULT_DATA if DEFAULT_DATA.is_dir() else None)
    p.add_argument("--arch", default="resnet18")
    p.add_argument("--image-size", type=int, default=112)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--workers", default="0,1", help="comma-separated worker counts to try")
    p.add_argument("--steps", type=int, default=12)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--augmentation", default="basic", choices=["none", "basic", "strong"])
    p.add_argument("--channels-last", action="store_true")
    p.add_argument("--amp", action="store_true", help="autocast (CUDA only)")
    p.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0: torch default)")
    args = p.parse_args()

    tmp = None
    root = args.data
    if root is None:
        from tests.helpers.shapes import make_shapes_dataset

        tmp = tempfile.TemporaryDirectory()
        root = Path(tmp.name)
        make_shapes_dataset(root, 400, size=max(args.image_size, 64), seed=0, fmt="jpeg")
    base = TrainConfig(
        arch=args.arch, image_size=args.image_size, batch_size=args.batch_size, device=args.device,
        augmentation=args.augmentation, channels_last=args.channels_last, amp=args.amp, workers=0,
    )  # fmt: skip
    device = resolve_device(base.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"data={root} arch={args.arch} image_size={args.image_size} batch={args.batch_size} device={device} "
          f"torch_threads={torch.get_num_threads()} cpus={os.cpu_count()} "
          f"decode_size={decode_size_for(args.image_size)} (PIL draft for JPEG) pin_memory={device.type == 'cuda'} "
          f"channels_last={args.channels_last} amp={amp_dtype(device, args.amp)} "
          f"augmentation={args.augmentation}")  # fmt: skip
    classes = len(load_splits(root, train_transforms(32, "none"), eval_transforms(32))[0])
    t0 = time.perf_counter()
    model_rate = model_only_rate(base, classes, args.steps, args.warmup)
    print(f"model-only (in-memory uint8 batch): {model_rate:8.1f} images/s")
    best = 0.0
    for workers in (int(w) for w in args.workers.split(",")):
        rate, n = pipeline_rate(base.replace(workers=workers), root, args.steps, args.warmup)
        ratio = rate / model_rate
        best = max(best, ratio)
        print(f"pipeline workers={workers} persistent={workers > 0}: {rate:8.1f} images/s  ratio={ratio:.2f}  "
              f"({n} training files)")  # fmt: skip
    print(f"best ratio {best:.2f} (target >= 0.90) in {time.perf_counter() - t0:.0f} s")
    if tmp is not None:
        tmp.cleanup()


if __name__ == "__main__":
    main()
