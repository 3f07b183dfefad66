"""DDP on CPU: two gloo processes spawned on 127.0.0.1."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from tests.helpers.shapes import make_shapes_dataset
from training.ml.checkpoint import load_checkpoint
from training.ml.config import TrainConfig
from training.ml.run import train


def test_two_gloo_ranks_step_counts_and_identical_weights(tmp_path: Path) -> None:
    counts = make_shapes_dataset(tmp_path / "data", 40, size=32, seed=2)
    n_train, world_size, batch_size = counts["train"], 2, 8
    assert n_train == 84  # 84 / (2 * 8) = 5.25: padding vs drop_last would differ
    config = TrainConfig(
        arch="small_cnn", epochs=2, batch_size=batch_size, lr=0.05, workers=0, device="cpu",
        checkpoint_dir=str(tmp_path / "ckpt"),
    )  # fmt: skip
    seen: list[dict[str, Any]] = []
    result = train(config, tmp_path / "data", on_epoch=lambda m: seen.append(m), world_size=world_size)

    assert result.status == "completed"
    assert [m["epoch"] for m in seen] == [1, 2] and seen == result.history  # callback ran in this process
    # DistributedSampler pads each rank to ceil(N / W) samples; the loader keeps the last partial batch.
    expected_steps = math.ceil(n_train / (world_size * batch_size))
    assert [m["steps"] for m in seen] == [expected_steps] * 2 == [6, 6]
    assert len(result.weights_digests) == 2 and result.weights_digests[0] == result.weights_digests[1]
    # evaluation shards without padding: every test image counted exactly once over both ranks
    assert result.final_metrics is not None and result.final_metrics["num_samples"] == counts["test"]
    assert load_checkpoint(result.last_checkpoint or "")["epoch"] == 2
