"""Config round trip, transforms, the imagefolder reader and the shapes generator."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from PIL import Image

from tests.helpers.shapes import SHAPE_CLASSES, iter_shape_images, make_shapes_dataset
from training.ml.config import ARCHS, TrainConfig, default_config_for
from training.ml.datasets import ImageFolderSplit, discover_classes, load_image, load_splits
from training.ml.optim import lr_factor
from training.ml.presets import eval_transforms, normalize_batch, train_transforms


def test_config_round_trip_and_validation() -> None:
    config = default_config_for("resnet18", epochs=3, checkpoint_dir="/tmp/x")
    assert config.image_size == 224 and config.epochs == 3
    assert TrainConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    assert default_config_for("small_cnn").image_size == 32
    assert {default_config_for(a).arch for a in ARCHS} == set(ARCHS)
    with pytest.raises(ValueError, match="unknown TrainConfig keys"):
        TrainConfig.from_dict({"arch": "small_cnn", "learning_rate": 0.1})
    with pytest.raises(ValueError, match="lr_schedule"):
        TrainConfig(lr_schedule="linear")
    with pytest.raises(ValueError, match="arch"):
        TrainConfig(arch="vgg11")


def test_lr_schedules() -> None:
    cosine = TrainConfig(epochs=10, warmup_epochs=2)
    assert [round(lr_factor(cosine, e), 3) for e in (0, 1, 2)] == [0.333, 0.667, 1.0]
    assert lr_factor(cosine, 9) < 0.05
    step = TrainConfig(epochs=10, lr_schedule="step", lr_step_size=3, lr_gamma=0.1)
    assert [lr_factor(step, e) for e in (0, 2, 3, 6)] == pytest.approx([1, 1, 0.1, 0.01])
    assert lr_factor(TrainConfig(lr_schedule="constant"), 7) == 1.0


@pytest.mark.parametrize("augmentation", ["none", "basic", "strong"])
def test_transforms_give_uint8_tensors_of_the_configured_size(augmentation: str) -> None:
    img = Image.new("RGB", (300, 200), (200, 10, 10))
    out = train_transforms(64, augmentation)(img)
    assert out.dtype == torch.uint8 and out.shape == (3, 64, 64)
    assert eval_transforms(224)(img).shape == (3, 224, 224)
    batch = normalize_batch(torch.full((2, 3, 4, 4), 255, dtype=torch.uint8), channels_last=True)
    assert batch.dtype == torch.float32 and batch.is_contiguous(memory_format=torch.channels_last)
    assert batch[0, 0, 0, 0].item() == pytest.approx((1 - 0.485) / 0.229, rel=1e-5)


def test_shapes_layout_and_bytes(tmp_path: Path) -> None:
    counts = make_shapes_dataset(tmp_path, 10, size=24, seed=3, fmt="jpeg")
    assert counts == {"train": 21, "val": 6, "test": 3}
    assert sorted(p.name for p in (tmp_path / "train").iterdir()) == list(SHAPE_CLASSES)
    assert len(list((tmp_path / "test" / "square").glob("*.jpg"))) == 1
    images = list(iter_shape_images(2, size=16, seed=1))
    assert [i.label for i in images] == list(SHAPE_CLASSES) * 2
    assert images[0].data.startswith(b"\x89PNG") and images == list(iter_shape_images(2, size=16, seed=1))


def test_class_list_is_union_over_splits_and_classes_json_wins(tmp_path: Path) -> None:
    make_shapes_dataset(tmp_path, 6, seed=0)
    for f in (tmp_path / "test" / "circle").iterdir():  # a split without a class keeps the indices
        f.unlink()
    (tmp_path / "test" / "circle").rmdir()
    (tmp_path / "val" / "square").rename(tmp_path / "val" / "star")
    classes, splits = load_splits(tmp_path, eval_transforms(32), eval_transforms(32))
    assert classes == ["circle", "square", "star", "triangle"]
    assert set(splits["test"].targets) == {1, 3} and set(splits["val"].targets) == {0, 2, 3}
    image, target = splits["train"][0]
    assert image.shape == (3, 32, 32) and target == 0

    (tmp_path / "classes.json").write_text(json.dumps(["triangle", "star", "square", "circle"]))
    assert discover_classes(tmp_path)[0] == "triangle"
    (tmp_path / "classes.json").write_text(json.dumps(["triangle"]))
    with pytest.raises(ValueError, match="not in the class list"):
        ImageFolderSplit(tmp_path, "train", discover_classes(tmp_path), eval_transforms(32))


def test_manifest_records_and_jpeg_draft(tmp_path: Path) -> None:
    make_shapes_dataset(tmp_path, 4, size=256, seed=0, splits=(1.0, 0.0, 0.0), fmt="jpeg")
    first = sorted((tmp_path / "train" / "circle").iterdir())[0]
    rel = first.relative_to(tmp_path).as_posix()
    (tmp_path / "manifest.jsonl").write_text(json.dumps({"path": rel, "item_id": 7}) + "\n\n")
    _, splits = load_splits(tmp_path, eval_transforms(32), eval_transforms(32), decode_size=32)
    assert splits["train"].metadata(0) == {"path": rel, "item_id": 7} and splits["train"].metadata(1) is None
    assert len(splits["val"]) == 0 and len(splits["test"]) == 0
    assert load_image(first, decode_size=32).size == (32, 32)  # decoded at 1/8 scale
    assert load_image(first).size == (256, 256)
