"""Process-wide switches a run sets are the run's only (cuDNN autotuning), and world_size is part of the config."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tests.helpers.shapes import make_shapes_dataset
from training.ml.config import TrainConfig
from training.ml.run import train
from training.ml.runtime import cudnn_benchmark


@pytest.fixture
def keep_cudnn_benchmark():
    before = torch.backends.cudnn.benchmark
    yield
    torch.backends.cudnn.benchmark = before


@pytest.mark.usefixtures("keep_cudnn_benchmark")
def test_cudnn_benchmark_is_set_for_the_block_and_restored_even_on_error() -> None:
    for outer in (False, True):
        torch.backends.cudnn.benchmark = outer
        with cudnn_benchmark(True):
            assert torch.backends.cudnn.benchmark is True
        assert torch.backends.cudnn.benchmark is outer
        with pytest.raises(RuntimeError), cudnn_benchmark(not outer):
            raise RuntimeError("the run failed")
        assert torch.backends.cudnn.benchmark is outer


@pytest.mark.usefixtures("keep_cudnn_benchmark")
def test_training_leaves_cudnn_benchmark_as_it_found_it(tmp_path: Path) -> None:
    make_shapes_dataset(tmp_path / "data", 10, size=16, seed=5)
    torch.backends.cudnn.benchmark = True  # e.g. set by an earlier job of this worker process
    during: list[bool] = []
    config = TrainConfig(epochs=1, batch_size=8, image_size=16, workers=0, max_train_batches=1, cpu_threads=1,
                         device="cpu")  # fmt: skip
    result = train(config, tmp_path / "data", on_epoch=lambda m: during.append(torch.backends.cudnn.benchmark))
    assert result.status == "completed"
    # autotuning is on only while a CUDA run trains (not on CPU), and the process's own value comes back after
    assert during == [False] and torch.backends.cudnn.benchmark is True


def test_world_size_is_a_config_setting_and_splits_the_global_batch() -> None:
    config = TrainConfig(batch_size=64, world_size=4)
    assert config.rank_batch_size == 16 and TrainConfig.from_dict(config.to_dict()).world_size == 4
    assert TrainConfig().world_size == 1  # never the machine's GPU count
    with pytest.raises(ValueError, match="must be a multiple of world_size"):
        TrainConfig(batch_size=30, world_size=4)
    with pytest.raises(ValueError, match="world_size must be >= 1"):
        TrainConfig(world_size=0)
