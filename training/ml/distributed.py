"""DDP helpers (after torchvision's references/classification/utils.py) and the multi-process launcher.

`launch` starts one process per rank with `torch.multiprocessing.spawn` on 127.0.0.1 (gloo on CPU, nccl on
CUDA). The caller's callbacks never cross a process boundary: rank 0 sends epoch metrics back over a queue
and the parent calls `on_epoch`; the parent polls `should_stop` and sets a shared event that every rank
reads at its batch boundaries. So callbacks may be closures, and they run in the caller's process.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch.utils.data import Sampler


def find_free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


_control_group: Any = None  # gloo group for small CPU-side decisions (cancel flags) under nccl


def init_process_group(rank: int, world_size: int, port: int, device: torch.device) -> None:
    """nccl on CUDA, gloo on CPU. With nccl a second, gloo group carries the per-batch cancel flag, so
    agreeing on it costs a localhost round trip instead of a GPU synchronisation every step."""
    global _control_group
    backend = "nccl" if device.type == "cuda" else "gloo"
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group(
        backend,
        init_method=f"tcp://127.0.0.1:{port}",
        rank=rank,
        world_size=world_size,
        timeout=timedelta(minutes=10),
    )
    _control_group = dist.new_group(backend="gloo") if backend == "nccl" else None


def destroy_process_group() -> None:
    global _control_group
    if is_distributed():
        dist.destroy_process_group()
    _control_group = None


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized()


def get_rank() -> int:
    return dist.get_rank() if is_distributed() else 0


def get_world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


def is_main_process() -> bool:
    return get_rank() == 0


def all_reduce_sum(tensor: torch.Tensor) -> torch.Tensor:
    """Sum over ranks, in place; a no-op without a process group."""
    if is_distributed():
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


def any_rank(flag: bool) -> bool:
    """True on every rank if it is True on any rank (keeps a cancel decision identical across ranks)."""
    if not is_distributed():
        return flag
    t = torch.tensor([1 if flag else 0])  # CPU tensor: the default group is gloo, or the control group is
    dist.all_reduce(t, op=dist.ReduceOp.MAX, group=_control_group)
    return bool(t.item())


def sync_buffers(model: torch.nn.Module) -> None:
    """Average floating-point buffers (BatchNorm running stats) over ranks; copy integer ones from rank 0.

    DDP keeps parameters identical but each rank's last forward updates its own running stats, so without
    this the replicas would evaluate their shards with slightly different models.
    """
    if not is_distributed():
        return
    world = dist.get_world_size()
    for buf in model.buffers():
        if buf.is_floating_point():
            dist.all_reduce(buf, op=dist.ReduceOp.SUM)
            buf.div_(world)
        else:
            dist.broadcast(buf, src=0)


class ShardSampler(Sampler[int]):
    """Indices rank, rank+W, rank+2W ... without padding: evaluation counts every sample exactly once
    (DistributedSampler pads with duplicates). Shards may differ by one sample, so evaluation must not
    run per-batch collectives -- it only sums totals at the end."""

    def __init__(self, length: int, rank: int, world_size: int) -> None:
        self.length, self.rank, self.world_size = length, rank, world_size

    def __iter__(self) -> Iterator[int]:
        return iter(range(self.rank, self.length, self.world_size))

    def __len__(self) -> int:
        return len(range(self.rank, self.length, self.world_size))


Worker = Callable[..., None]


def launch(
    worker: Worker,
    world_size: int,
    args: tuple[Any, ...],
    *,
    on_message: Callable[[Any], None],
    should_stop: Callable[[], bool] | None = None,
    poll_seconds: float = 0.2,
) -> None:
    """Run `worker(rank, queue, stop_event, *args)` in `world_size` spawned processes until all exit.

    Messages the workers put on `queue` are handed to `on_message` in this process. A worker's exception
    is re-raised here (ProcessRaisedException); an exception in a callback terminates the workers.
    """
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    stop_event = ctx.Event()
    procs = mp.spawn(worker, args=(queue, stop_event, *args), nprocs=world_size, join=False)

    def drain() -> None:
        while not queue.empty():
            on_message(queue.get())

    try:
        done = False
        while not done:
            drain()
            if should_stop is not None and not stop_event.is_set() and should_stop():
                stop_event.set()
            done = procs.join(timeout=poll_seconds)
        drain()
    except BaseException:
        for p in procs.processes:
            if p.is_alive():
                p.terminate()
        raise
    finally:
        queue.close()
