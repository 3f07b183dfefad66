"""The start-a-run form: per-architecture defaults come from training.ml.config.default_config_for."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

from training.ml.config import ARCHS, AUGMENTATIONS, DEVICES, LR_SCHEDULES, PRETRAINED_ARCHS, default_config_for

FIELDS = (
    "pretrained", "probe_epochs", "epochs", "batch_size", "lr", "lr_schedule", "weight_decay", "image_size",
    "augmentation", "seed", "device",
)  # fmt: skip


def arch_defaults() -> dict[str, dict[str, Any]]:
    """{arch: {field: default}} for the form's JS, so changing the architecture (or ticking "pretrained")
    refills sensible values; pretrained variants are keyed "<arch>+pretrained"."""
    out = {}
    for arch in ARCHS:
        cfg = default_config_for(arch).to_dict()
        out[arch] = {f: cfg[f] for f in FIELDS}
        if arch in PRETRAINED_ARCHS:
            cfg = default_config_for(arch, pretrained=True).to_dict()
            out[f"{arch}+pretrained"] = {f: cfg[f] for f in FIELDS}
    return out


class RunStartForm(forms.Form):
    architecture = forms.ChoiceField(choices=[(a, a) for a in ARCHS], initial="small_cnn", label=_("Architecture"))
    pretrained = forms.BooleanField(
        required=False,
        label=_("Pretrained"),
        help_text=format_lazy(_("ImageNet weights shipped in a pip package ({})."), ", ".join(PRETRAINED_ARCHS)),
    )
    probe_epochs = forms.IntegerField(
        min_value=0, max_value=1000, label=_("Linear-probe epochs"),
        help_text=_("Pretrained: epochs of the new head on cached features, before any fine-tuning."),
    )  # fmt: skip
    epochs = forms.IntegerField(
        min_value=0, max_value=1000, label=_("Epochs"), help_text=_("Pretrained: fine-tune epochs (0: probe only).")
    )
    batch_size = forms.IntegerField(min_value=1, max_value=4096, label=_("Batch size"))
    lr = forms.FloatField(label=_("Learning rate"), min_value=1e-7, max_value=10)
    lr_schedule = forms.ChoiceField(label=_("Schedule"), choices=[(s, s) for s in LR_SCHEDULES])
    weight_decay = forms.FloatField(min_value=0, max_value=1, label=_("Weight decay"))
    image_size = forms.IntegerField(
        min_value=8, max_value=1024, label=_("Image size"), help_text=_("Pixels per side after resizing.")
    )
    augmentation = forms.ChoiceField(choices=[(a, a) for a in AUGMENTATIONS], label=_("Augmentation"))
    seed = forms.IntegerField(min_value=0, max_value=2**31 - 1, label=_("Seed"))
    device = forms.ChoiceField(
        choices=[(d, d) for d in DEVICES],
        label=_("Device"),
        help_text=format_lazy(
            "{} {}",
            _("auto: CUDA when the worker has it."),
            _("cuda: refused when none of the training workers running has CUDA."),
        ),
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("pretrained") and data.get("architecture") not in PRETRAINED_ARCHS:
            message = _("Pretrained weights exist only for %(archs)s: pick it, or untick Pretrained.")
            self.add_error("pretrained", message % {"archs": ", ".join(PRETRAINED_ARCHS)})
        if not data.get("pretrained"):
            data["probe_epochs"] = None  # only a pretrained run has a probe
        return data

    def __init__(self, *args: Any, architecture: str = "small_cnn", **kwargs: Any) -> None:
        defaults = arch_defaults().get(architecture, arch_defaults()["small_cnn"])
        kwargs.setdefault("initial", {"architecture": architecture, **defaults})
        super().__init__(*args, **kwargs)
