"""Model factory over the one registry (config.ARCHITECTURES): torchvision's `get_model`, timm, a small CNN.

Models are always built with `weights=None` (no downloads from a worker); pretrained weights come from a pip
package (`pretrained=True`, see pretrained.py) or a local file via `initial_weights`, read with
`torch.load(weights_only=True)`.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch
from torch import nn
from torchvision.models import get_model

from training.ml.checkpoint import CheckpointError, load_state_dict_file
from training.ml.config import ARCHITECTURES, ARCHS
from training.ml.pretrained import pretrained_model

log = logging.getLogger(__name__)


def _conv_bn_relu(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True))


class SmallCNN(nn.Module):
    """Four conv-bn-relu stages (16-32-64-128 channels by default), each but the last halving the
    resolution, then global average pooling: ~0.1 M parameters, ~2000 training images/s on two CPU
    cores at 32x32, and any input size works."""

    def __init__(self, num_classes: int, width: int = 16, dropout: float = 0.1) -> None:
        super().__init__()
        w = width
        self.features = nn.Sequential(
            _conv_bn_relu(3, w),
            nn.MaxPool2d(2),
            _conv_bn_relu(w, 2 * w),
            nn.MaxPool2d(2),
            _conv_bn_relu(2 * w, 4 * w),
            nn.MaxPool2d(2),
            _conv_bn_relu(4 * w, 8 * w),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        )
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(8 * w, num_classes))
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


def build_model(
    arch: str, num_classes: int, initial_weights: str | Path | None = None, *, pretrained: bool = False
) -> nn.Module:
    """A freshly initialised `arch` with a `num_classes` head, optionally warm-started from a local file or,
    with `pretrained`, from the packaged ImageNet weights (a zero head the linear probe then fits).

    torchvision builders size the head themselves when given `num_classes` with `weights=None`
    (resnet `fc`, mobilenet/efficientnet/convnext `classifier[-1]`).
    """
    if num_classes < 1:
        raise ValueError("num_classes must be >= 1")
    spec = ARCHITECTURES.get(arch)
    if spec is None:
        raise ValueError(f"unknown arch {arch!r}; choose from {ARCHS}")
    if pretrained:
        model: nn.Module = pretrained_model(arch, num_classes)
    elif spec.source == "local":
        model = SmallCNN(num_classes)
    elif spec.source == "torchvision":
        model = get_model(arch, weights=None, num_classes=num_classes)
    else:
        import timm

        model = timm.create_model(arch, pretrained=False, num_classes=num_classes)
    if initial_weights:
        load_initial_weights(model, initial_weights)
    return model


def load_initial_weights(model: nn.Module, path: str | Path) -> tuple[list[str], list[str]]:
    """Copy matching tensors from a state-dict file (or a checkpoint's "model" entry) into `model`.

    Keys whose shape differs (typically the classifier head of an ImageNet model) or that the model lacks
    are skipped. Returns (loaded keys, skipped keys). Raises CheckpointError for unsafe/unreadable files.
    """
    state = load_state_dict_file(path)
    own = model.state_dict()
    usable = {}
    skipped = []
    for key, value in state.items():
        key = key.removeprefix("module.")  # saved from a DDP wrapper
        if key in own and isinstance(value, torch.Tensor) and value.shape == own[key].shape:
            usable[key] = value
        else:
            skipped.append(key)
    if not usable:
        raise CheckpointError(f"{path}: no tensor matches the {type(model).__name__} architecture")
    model.load_state_dict(usable, strict=False)
    log.info("initial weights %s: %d tensors loaded, %d skipped %s", path, len(usable), len(skipped), skipped[:5])
    return sorted(usable), skipped


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
