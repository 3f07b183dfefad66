"""How a pretrained run transfers, chosen from the data: the input size and probe-only versus probe-then-fine-tune.

Two facts decide it. (1) A pretrained backbone's features were learned at its native resolution (224 px for
efficientnet_lite0); small images are upsampled to it, not fed at their own size (a 32 px input gives the backbone
a 1x1 feature map it never saw in pretraining), and large ones are resized down to it (a larger input costs time
and moves the statistics away from pretraining). (2) Fine-tuning every weight on few images, or on low-resolution
images upsampled several times, overfits and distorts the pretrained features (Kumar et al., "Fine-Tuning can
Distort Pretrained Features and Underperform Out-of-Distribution", ICLR 2022; Kornblith et al., "Do Better ImageNet
Models Transfer Better?", CVPR 2019, where the linear probe is the strong small-data baseline). Measured here (issue
24): 300 CIFAR-10 images of 3 classes at 32 px, a 3-epoch fine-tune 0.82 against the linear probe's ~0.89.

So: probe only when the data are few per class or low in resolution; otherwise the probe's head starts the
requested fine-tune. `transfer="probe"` or `"fine_tune"` overrides the rule (the researcher's choice), `"auto"` is
the default. Pure: the numbers come from the dataset version (training.services.runs).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

FEW_PER_CLASS = 100  # training images per class below which a full fine-tune is not attempted
LOW_RESOLUTION = 64  # median shorter side (px) below which the images are too coarse to fine-tune on
MODES = ("auto", "probe", "fine_tune")


@dataclass(frozen=True)
class TransferChoice:
    mode: str  # "probe" or "fine_tune": what the run does
    why: str  # few_images | low_resolution | enough_data | no_epochs | researcher (a code the page words)
    image_size: int
    fine_tune_epochs: int
    images_per_class: float
    median_side: int | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def transfer_choose(
    *,
    requested: str,
    native_size: int,
    requested_epochs: int,
    images_per_class: float,
    median_side: int | None,
) -> TransferChoice:
    """The input size (always the backbone's native one) and whether the requested fine-tune epochs run."""
    if requested not in MODES:
        raise ValueError(f"transfer must be one of {', '.join(MODES)}")
    figures = {"image_size": native_size, "images_per_class": round(float(images_per_class), 1),
               "median_side": median_side}  # fmt: skip
    if requested == "probe":
        return TransferChoice("probe", "researcher", fine_tune_epochs=0, **figures)
    if requested == "fine_tune":
        return TransferChoice("fine_tune", "researcher", fine_tune_epochs=max(1, requested_epochs), **figures)
    if images_per_class < FEW_PER_CLASS:
        return TransferChoice("probe", "few_images", fine_tune_epochs=0, **figures)
    if median_side is not None and median_side < LOW_RESOLUTION:
        return TransferChoice("probe", "low_resolution", fine_tune_epochs=0, **figures)
    if requested_epochs <= 0:
        return TransferChoice("probe", "no_epochs", fine_tune_epochs=0, **figures)
    return TransferChoice("fine_tune", "enough_data", fine_tune_epochs=requested_epochs, **figures)
