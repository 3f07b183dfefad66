"""End-to-end training on synthetic shapes: accuracy, resume, cancel, predict (CPU, seconds each)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

from tests.helpers.shapes import SHAPE_CLASSES, make_shapes_dataset
from training.ml.checkpoint import load_checkpoint
from training.ml.config import TrainConfig
from training.ml.engine import train_one_epoch
from training.ml.run import TrainResult, predict, train


@pytest.fixture(scope="module")
def shapes_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("shapes")
    make_shapes_dataset(root, 300, size=32, seed=1)
    return root


@pytest.fixture(scope="module")
def trained(shapes_root: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[TrainResult, list[dict[str, Any]]]:
    config = TrainConfig(
        arch="small_cnn", epochs=8, batch_size=32, lr=0.05, workers=0, channels_last=True, seed=0, cpu_threads=1,
        checkpoint_dir=str(tmp_path_factory.mktemp("ckpt")),
    )  # fmt: skip
    seen: list[dict[str, Any]] = []
    return train(config, shapes_root, on_epoch=seen.append), seen


def _quick(checkpoint_dir: Path, **overrides: Any) -> TrainConfig:
    base: dict[str, Any] = {
        "arch": "small_cnn", "batch_size": 32, "lr": 0.05, "workers": 0, "max_train_batches": 4, "cpu_threads": 1,
        "checkpoint_dir": str(checkpoint_dir),
    }  # fmt: skip
    return TrainConfig(**{**base, **overrides})


def test_small_cnn_learns_shapes(trained: tuple[TrainResult, list[dict[str, Any]]]) -> None:
    result, seen = trained
    assert result.status == "completed" and result.epochs_completed == 8
    assert seen == result.history and [h["epoch"] for h in seen] == list(range(1, 9))
    expected_keys = {"epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "images_per_sec", "seconds"}
    assert set(seen[0]) >= expected_keys
    assert seen[-1]["lr"] < seen[0]["lr"]  # cosine decay
    metrics = result.final_metrics
    assert metrics is not None and result.final_split == "test"
    assert metrics["accuracy"] >= 0.9, metrics
    assert metrics["macro_f1"] >= 0.85 and metrics["top5"] is None
    assert metrics["classes"] == list(SHAPE_CLASSES) and np.asarray(metrics["confusion_matrix"]).sum() == 135
    assert Path(result.last_checkpoint or "").is_file() and Path(result.best_checkpoint or "").is_file()
    cm = np.asarray(metrics["confusion_matrix"])
    assert len(result.mistakes) == cm.sum() - np.trace(cm)  # the gallery holds exactly the off-diagonal images
    for m in result.mistakes:
        assert m["path"].startswith("test/") and m["true"] != m["predicted"]
        assert SHAPE_CLASSES[m["true"]] == Path(m["path"]).parent.name
    confidences = [m["confidence"] for m in result.mistakes]
    assert confidences == sorted(confidences, reverse=True)


def test_predict_probabilities(trained: tuple[TrainResult, list[dict[str, Any]]], shapes_root: Path) -> None:
    result, _ = trained
    paths = sorted((shapes_root / "test").glob("*/*.png"))
    probs = predict(result.last_checkpoint or "", paths, batch_size=50, device="cpu")
    assert probs.shape == (len(paths), 3) and probs.dtype == np.float32
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    truth = np.array([SHAPE_CLASSES.index(p.parent.name) for p in paths])
    assert (probs.argmax(axis=1) == truth).mean() >= 0.9
    assert predict(result.last_checkpoint or "", [], device="cpu").shape == (0, 3)


def test_resume_continues_history_and_state(shapes_root: Path, tmp_path: Path) -> None:
    straight = train(_quick(tmp_path / "a", epochs=4, lr_schedule="constant"), shapes_root)

    first = train(_quick(tmp_path / "b", epochs=2, lr_schedule="constant"), shapes_root)
    seen: list[dict[str, Any]] = []
    resumed = train(_quick(tmp_path / "b", epochs=4, lr_schedule="constant"), shapes_root, on_epoch=seen.append)

    assert [h["epoch"] for h in first.history] == [1, 2]
    assert [h["epoch"] for h in seen] == [3, 4]  # nothing re-run
    assert [h["epoch"] for h in resumed.history] == [1, 2, 3, 4] and resumed.history[:2] == first.history
    # The restored model/optimizer/RNG state makes the resumed run match the uninterrupted one
    # (single process, CPU, workers=0); a fresh start would repeat epoch 1's loss instead.
    for a, b in zip(straight.history, resumed.history, strict=True):
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-4)
    assert seen[0]["train_loss"] != pytest.approx(straight.history[0]["train_loss"], rel=1e-3)
    state_a = load_checkpoint(straight.last_checkpoint or "")["model"]
    state_b = load_checkpoint(resumed.last_checkpoint or "")
    assert state_b["epoch"] == 4 and len(state_b["history"]) == 4
    for key, value in state_a.items():
        torch.testing.assert_close(state_b["model"][key], value, rtol=1e-4, atol=1e-5)


def test_resume_follows_the_new_schedule_length(shapes_root: Path, tmp_path: Path) -> None:
    train(_quick(tmp_path, epochs=2, max_train_batches=1), shapes_root)
    resumed = train(_quick(tmp_path, epochs=4, max_train_batches=1), shapes_root)
    # cosine over 4 epochs at epoch index 2: 0.05 * (1 + cos(pi / 2)) / 2
    assert resumed.history[2]["lr"] == pytest.approx(0.025)
    assert train(_quick(tmp_path, epochs=4), shapes_root).history == resumed.history  # finished: evaluate only


def test_cancel_stops_at_batch_boundary_and_keeps_last_epoch(shapes_root: Path, tmp_path: Path) -> None:
    digests: list[str] = []
    calls_after_epoch_1 = 0

    def on_epoch(metrics: dict[str, Any]) -> None:
        digests.append(hashlib.sha256((tmp_path / "last.pt").read_bytes()).hexdigest())

    def should_stop() -> bool:
        nonlocal calls_after_epoch_1
        if digests:
            calls_after_epoch_1 += 1
        return calls_after_epoch_1 >= 3  # epoch 2 trains 2 batches, then stops at the 3rd boundary

    result = train(_quick(tmp_path, epochs=3, workers=1), shapes_root, on_epoch=on_epoch, should_stop=should_stop)
    assert result.status == "cancelled" and result.final_metrics is None
    assert result.epochs_completed == 1 and calls_after_epoch_1 == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best.pt", "last.pt"]  # no temp file left
    assert hashlib.sha256((tmp_path / "last.pt").read_bytes()).hexdigest() == digests[0]  # untouched
    state = load_checkpoint(tmp_path / "last.pt")
    assert state["epoch"] == 1 and [h["epoch"] for h in state["history"]] == [1]

    again = train(_quick(tmp_path, epochs=3), shapes_root)  # resume redoes epoch 2
    assert again.status == "completed" and [h["epoch"] for h in again.history] == [1, 2, 3]


def test_train_one_epoch_cancel_signal() -> None:
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 4 * 4, 2))
    batches = [(torch.randint(0, 256, (4, 3, 4, 4), dtype=torch.uint8), torch.tensor([0, 1, 0, 1]))] * 10
    calls = iter(range(100))
    stats = train_one_epoch(
        model, batches, torch.optim.SGD(model.parameters(), lr=0.1), nn.CrossEntropyLoss(), torch.device("cpu"),
        should_stop=lambda: next(calls) >= 6,
    )  # fmt: skip
    assert stats.cancelled and stats.steps == 6 and stats.images == 24
