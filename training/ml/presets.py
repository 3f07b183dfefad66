"""Train/eval transforms (torchvision.transforms.v2), after torchvision's references/classification/presets.py.

Difference from the reference: the transforms stop at a uint8 CHW tensor, and the float conversion and
ImageNet normalisation happen on the training device (`normalize_batch`). That keeps DataLoader workers
cheaper (no float maths per pixel on the CPU) and moves 4x fewer bytes host->GPU.
"""

from __future__ import annotations

import torch
from torchvision.transforms import v2

from training.ml.config import IMAGENET_MEAN, IMAGENET_STD

Norm = tuple[tuple[float, float, float], tuple[float, float, float]]  # (mean, std) per channel
IMAGENET_NORM: Norm = (IMAGENET_MEAN, IMAGENET_STD)


def resize_size_for(image_size: int) -> int:
    """Shorter-side resize before the centre crop: the usual 256->224 ratio, none for thumbnails.

    Tiny images (CIFAR-like, < 64 px) carry the object almost edge to edge, so cropping them loses signal.
    """
    return image_size if image_size < 64 else round(image_size / 0.875)


def decode_size_for(image_size: int) -> int:
    """Smallest size a JPEG needs decoding at (PIL `draft`) so the transforms never upsample a reduced decode."""
    return resize_size_for(image_size)


def _min_crop_scale(image_size: int) -> float:
    # ImageNet's 8 % minimum area destroys small pictures; thumbnails keep at least a third of the image.
    return 0.08 if image_size >= 128 else 0.35


def train_transforms(image_size: int, augmentation: str) -> v2.Compose:
    """PIL image -> augmented uint8 tensor (3, image_size, image_size)."""
    if augmentation == "none":
        ops: list[v2.Transform] = [v2.Resize(resize_size_for(image_size)), v2.CenterCrop(image_size)]
    elif augmentation in ("basic", "strong"):
        ops = [
            v2.RandomResizedCrop(image_size, scale=(_min_crop_scale(image_size), 1.0), antialias=True),
            v2.RandomHorizontalFlip(),
        ]
        if augmentation == "strong":
            ops.append(v2.TrivialAugmentWide())
    else:
        raise ValueError(f"unknown augmentation {augmentation!r}")
    ops += [v2.ToImage(), v2.ToPureTensor()]
    if augmentation == "strong":
        ops.append(v2.RandomErasing(p=0.25, value=0))
    return v2.Compose(ops)


def eval_transforms(image_size: int) -> v2.Compose:
    """PIL image -> uint8 tensor (3, image_size, image_size): shorter-side resize and centre crop."""
    return v2.Compose(
        [
            v2.Resize(resize_size_for(image_size), antialias=True),
            v2.CenterCrop(image_size),
            v2.ToImage(),
            v2.ToPureTensor(),
        ]
    )


_NORM_CACHE: dict[tuple[str, Norm], tuple[torch.Tensor, torch.Tensor]] = {}


def normalize_batch(images: torch.Tensor, *, channels_last: bool = False, norm: Norm | None = None) -> torch.Tensor:
    """uint8 (N, 3, H, W) on any device -> float32 normalised batch on the same device.

    `norm` is the architecture's (mean, std) (config.ArchSpec; ImageNet's by default). Float tensors are taken
    to be already in [0, 1]. One fused multiply-add on the device.
    """
    norm = norm or IMAGENET_NORM
    key = (str(images.device), norm)
    if key not in _NORM_CACHE:
        mean = torch.tensor(norm[0], device=images.device).view(1, 3, 1, 1)
        std = torch.tensor(norm[1], device=images.device).view(1, 3, 1, 1)
        _NORM_CACHE[key] = (1.0 / std, -mean / std)
    scale, shift = _NORM_CACHE[key]
    x = images.float()
    if images.dtype == torch.uint8:
        x = x.mul_(1.0 / 255.0)
    x = torch.addcmul(shift, x, scale)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    return x
