"""Checkpoints: atomic writes, and crafted pickles refused without running their payload."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
import torch

from training.ml.checkpoint import (
    CheckpointError,
    build_state,
    load_checkpoint,
    load_state_dict_file,
    save_checkpoint,
)
from training.ml.config import TrainConfig
from training.ml.nets import build_model
from training.ml.optim import build_optimizer, build_scheduler


class _Payload:
    """Unpickling this calls open(marker, "w"): creating the marker file proves code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return (open, (str(self.marker), "w"))


def _state(tmp_path: Path) -> dict[str, object]:
    config = TrainConfig(num_classes=3)
    model = build_model("small_cnn", 3)
    optimizer = build_optimizer(model, config)
    return build_state(
        model=model,
        optimizer=optimizer,
        scheduler=build_scheduler(optimizer, config),
        scaler=None,
        epoch=2,
        config=config.to_dict(),
        history=[{"epoch": 1, "val_acc": 0.5}, {"epoch": 2, "val_acc": None}],
        classes=["a", "b", "c"],
    )


def test_payload_is_live_with_plain_pickle(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    pickle.loads(pickle.dumps(_Payload(marker)))  # noqa: S301 - demonstrates the exploit the loader must refuse
    assert marker.exists()


@pytest.mark.parametrize("fmt", ["torch_save", "raw_pickle"])
def test_malicious_checkpoint_refused_and_code_not_run(tmp_path: Path, fmt: str) -> None:
    marker = tmp_path / "ran"
    path = tmp_path / "evil.pt"
    evil = {"format_version": 1, "model": _Payload(marker), "epoch": 1}
    if fmt == "torch_save":
        torch.save(evil, path)
    else:
        path.write_bytes(pickle.dumps(evil, protocol=2))
    with pytest.raises(CheckpointError, match="refusing"):
        load_checkpoint(path)
    with pytest.raises(CheckpointError):
        load_state_dict_file(path)
    with pytest.raises(CheckpointError):
        build_model("small_cnn", 3, initial_weights=path)
    assert not marker.exists()


def test_round_trip_is_atomic_and_rank_zero_only(tmp_path: Path) -> None:
    state = _state(tmp_path)
    path = save_checkpoint(state, tmp_path / "ck" / "last.pt")
    assert path is not None and [p.name for p in path.parent.iterdir()] == ["last.pt"]  # no temp file left
    assert save_checkpoint(state, tmp_path / "other.pt", is_main=False) is None
    assert not (tmp_path / "other.pt").exists()
    loaded = load_checkpoint(path)
    assert loaded["epoch"] == 2 and loaded["classes"] == ["a", "b", "c"]
    assert loaded["history"][1]["val_acc"] is None
    assert TrainConfig.from_dict(loaded["config"]) == TrainConfig(num_classes=3)
    for key, value in state["model"].items():  # type: ignore[union-attr]
        assert torch.equal(loaded["model"][key], value)


def test_incomplete_or_missing_checkpoint(tmp_path: Path) -> None:
    torch.save({"model": {}}, tmp_path / "partial.pt")
    with pytest.raises(CheckpointError, match="missing"):
        load_checkpoint(tmp_path / "partial.pt")
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(tmp_path / "nope.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError):
        load_checkpoint(tmp_path / "junk.pt")


def test_initial_weights_skip_mismatched_head(tmp_path: Path) -> None:
    source = build_model("small_cnn", 10)
    torch.save({"module." + k: v for k, v in source.state_dict().items()}, tmp_path / "w.pt")  # DDP-style keys
    model = build_model("small_cnn", 3, initial_weights=tmp_path / "w.pt")
    own = model.state_dict()
    assert torch.equal(own["features.0.0.weight"], source.state_dict()["features.0.0.weight"])
    assert own["classifier.1.weight"].shape == (3, 128)
