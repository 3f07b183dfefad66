"""DDP on CPU: two gloo processes spawned on 127.0.0.1."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from tests.helpers.shapes import make_shapes_dataset
from training.ml import distributed as dist_utils
from training.ml.checkpoint import load_checkpoint
from training.ml.config import TrainConfig, default_config_for
from training.ml.run import train


def test_two_gloo_ranks_step_counts_and_identical_weights(tmp_path: Path) -> None:
    counts = make_shapes_dataset(tmp_path / "data", 40, size=32, seed=2)
    n_train, world_size, batch_size = counts["train"], 2, 16  # batch_size is the global batch: 8 per rank
    assert n_train == 84  # 84 / 16 = 5.25: padding vs drop_last would differ
    config = TrainConfig(
        arch="small_cnn", epochs=2, batch_size=batch_size, lr=0.05, workers=0, device="cpu",
        checkpoint_dir=str(tmp_path / "ckpt"), world_size=world_size,
    )  # fmt: skip
    seen: list[dict[str, Any]] = []
    saved: list[int] = []
    result = train(config, tmp_path / "data", on_epoch=lambda m: seen.append(m),
                   on_checkpoint=lambda path, epoch: saved.append(epoch))  # fmt: skip

    assert result.status == "completed"
    assert [m["epoch"] for m in seen] == [1, 2] and seen == result.history  # callback ran in this process
    # DistributedSampler pads each rank to ceil(N / W) samples; the loader keeps the last partial batch.
    expected_steps = math.ceil(math.ceil(n_train / world_size) / config.rank_batch_size)
    assert [m["steps"] for m in seen] == [expected_steps] * 2 == [6, 6]
    assert len(result.weights_digests) == 2 and result.weights_digests[0] == result.weights_digests[1]
    # evaluation shards without padding: every test image counted exactly once over both ranks
    assert result.final_metrics is not None and result.final_metrics["num_samples"] == counts["test"]
    assert load_checkpoint(result.last_checkpoint or "")["epoch"] == 2
    assert saved == [1, 2]  # rank 0 told the parent after each last.pt it wrote


def _probe_cancel_rank(
    rank: int, queue: Any, stop_event: Any, world_size: int, port: int, config: dict[str, Any], root: str,
    cancel_at: list[int],
) -> None:  # fmt: skip
    """One rank of pretrained runs in which only rank 0 sees the cancel, at its `at`-th stop check: what happens
    when the parent's stop event is set between the two ranks' reads of it. One run per `at`, in one process
    group (spawning ranks that import torch and timm is most of the cost)."""
    import torch

    from training.ml import distributed as dist_utils
    from training.ml.run import _fit
    from training.ml.runtime import cpu_threads

    cfg = TrainConfig.from_dict(config)
    dist_utils.init_process_group(rank, world_size, port, torch.device("cpu"))
    try:
        for at in cancel_at:
            calls = 0

            def stop(at: int = at) -> bool:
                nonlocal calls
                calls += 1
                return rank == 0 and calls >= at

            emit = lambda m, at=at: queue.put(("epoch", at, m))  # noqa: E731
            with cpu_threads(cfg, world_size):
                result = _fit(rank, world_size, cfg, root, emit, stop)
            queue.put(("result", at, rank, result.status, result.epochs_completed))
    finally:
        dist_utils.destroy_process_group()


def test_cancel_seen_by_one_rank_during_the_probe_cancels_both(tmp_path: Path) -> None:
    make_shapes_dataset(tmp_path / "data", 6, size=32, seed=3)  # 12 train, 3 val images
    config = default_config_for(
        "efficientnet_lite0", pretrained=True, probe_epochs=20, epochs=1, image_size=32, batch_size=12, workers=0,
        cpu_threads=1, augmentation="none", device="cpu", world_size=2,
    )  # fmt: skip
    # Stop checks on each rank: one per feature batch (train: 2 batches of 6 per rank, val: 1), then one before
    # each probe epoch. At check 2: during the train features; at check 6: before the 3rd probe epoch.
    cancel_at = {2: 0, 6: 2}  # -> probe epochs reported before the cancel
    messages: list[tuple[Any, ...]] = []
    args = (2, dist_utils.find_free_port(), config.to_dict(), str(tmp_path / "data"), list(cancel_at))
    dist_utils.launch(_probe_cancel_rank, 2, args, on_message=messages.append)
    results = sorted(m[1:] for m in messages if m[0] == "result")
    # every rank ends cancelled: none was left alone in a collective (the old code hung or failed here)
    assert results == [(at, rank, "cancelled", 0) for at in cancel_at for rank in (0, 1)]
    for at, seen in cancel_at.items():
        epochs = [m[2] for m in messages if m[0] == "epoch" and m[1] == at]
        assert [(e["epoch"], e["stage"]) for e in epochs] == [(k, "probe") for k in range(1, seen + 1)]
