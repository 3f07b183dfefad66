"""Optimizer and learning-rate schedule from a TrainConfig.

The schedule is a closed-form function of the epoch (`lr_factor`) wrapped in a LambdaLR stepped once per
epoch. Being closed-form is what makes resume with a longer run correct: after loading a checkpoint the
factor is recomputed from the *new* total epochs instead of replaying a schedule built for the old one.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from training.ml.config import TrainConfig


def _param_groups(params: list[nn.Parameter], weight_decay: float, lr: float) -> list[dict[str, object]]:
    """No weight decay on norm layers and biases (1-D tensors), as torchvision's `--norm-weight-decay 0`."""
    decay, no_decay = [], []
    for p in params:
        if p.requires_grad:
            (no_decay if p.ndim <= 1 else decay).append(p)
    return [
        {"params": decay, "weight_decay": weight_decay, "lr": lr},
        {"params": no_decay, "weight_decay": 0.0, "lr": lr},
    ]


def build_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    """Pretrained runs fine-tune the backbone at lr * backbone_lr_scale (0: frozen) and the head at lr;
    the head's groups come first, so param_groups[0]["lr"] is the head's (the one the history reports)."""
    if config.pretrained:
        head = {id(p) for p in model.get_classifier().parameters()}  # type: ignore[operator]
        backbone = [p for p in model.parameters() if id(p) not in head]
        if config.backbone_lr_scale == 0:
            for p in backbone:
                p.requires_grad_(False)
        groups = _param_groups([p for p in model.parameters() if id(p) in head], config.weight_decay, config.lr)
        if config.backbone_lr_scale > 0:
            groups += _param_groups(backbone, config.weight_decay, config.lr * config.backbone_lr_scale)
    else:
        groups = _param_groups(list(model.parameters()), config.weight_decay, config.lr)
    if config.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=config.lr, momentum=config.momentum, nesterov=config.momentum > 0)
    if config.optimizer == "adamw":
        return torch.optim.AdamW(groups, lr=config.lr)
    raise ValueError(f"unknown optimizer {config.optimizer!r}")


def lr_factor(config: TrainConfig, epoch: int) -> float:
    """Multiplier of the base lr during 0-based `epoch`: linear warmup, then cosine/step/constant."""
    warmup = config.warmup_epochs
    if epoch < warmup:
        return (epoch + 1) / (warmup + 1)
    e = epoch - warmup
    if config.lr_schedule == "cosine":
        span = max(config.epochs - warmup, 1)
        return 0.5 * (1.0 + math.cos(math.pi * min(e, span) / span))
    if config.lr_schedule == "step":
        return config.lr_gamma ** (e // config.lr_step_size)
    return 1.0


def build_scheduler(optimizer: torch.optim.Optimizer, config: TrainConfig) -> torch.optim.lr_scheduler.LambdaLR:
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda epoch: lr_factor(config, epoch))


def sync_lr(
    optimizer: torch.optim.Optimizer, scheduler: torch.optim.lr_scheduler.LambdaLR, config: TrainConfig
) -> None:
    """Set each group's lr for the scheduler's current epoch under `config` (call after loading state)."""
    for group, base in zip(optimizer.param_groups, scheduler.base_lrs, strict=True):
        group["lr"] = base * lr_factor(config, scheduler.last_epoch)
    scheduler._last_lr = [g["lr"] for g in optimizer.param_groups]  # keep get_last_lr() truthful
