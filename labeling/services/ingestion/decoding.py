"""The CPU part of ingest (decode, SHA-256, pHash, thumbnail) in a pool of processes, one per core.

Threads cannot do it: Pillow releases the GIL while decoding, but the rest of `image_prepare` (headers,
EXIF, hashing glue, the pHash's numpy DCT) holds it, and a 224 px JPEG is mostly "the rest". So a batch's
threads read the bytes, hand them to `prepare`, and store the result; the pool does the pixels.

* One pool per process, created on first use and reused by every chunk and batch (each child starts a
  fresh interpreter and imports Pillow and numpy); recreated when the size setting changes or a child died.
* billiard (Celery's fork of multiprocessing), spawn start method: a Celery prefork child is a daemonic
  process, and the standard library refuses children to those; spawn (not fork) because the parent has
  threads and database connections that must not be copied. A child imports only validation.py and its
  pure dependencies (the package's `__init__` is lazy for this): no Django set-up, no database.
* Limits travel with each call (the settings object of the caller, a few hundred bytes), so a child
  needs no settings module and a test's overrides apply.
* Decode memory: the children share one `DECODE_BUDGET_BYTES` budget (a counter and a condition in shared
  memory), so the pool holds what one process's threads held before.
* Every file is decoded in the pool, small ones too (a decoder crash on a 10 KB file would otherwise kill
  the worker, and its chunk would be retried for ever). INGEST_IN_THREAD_BELOW_BYTES (default 0) lets an
  operator decode tiny files in the calling thread instead, trading that isolation for the hand-over cost.
  The caller's threads and the children share the one budget.
* Results are small: the input bytes are not sent back unless they were re-encoded (`normalised`), nor the
  thumbnail when the original is its own thumbnail; the caller puts its own bytes back.
* A bad image is a `Rejected` value; a child that dies (a decoder crash, the OOM killer) takes its pool
  with it: the pool is replaced and its calls are retried once, in the new pool; an image that kills
  the pool twice is rejected `internal_error`.
"""

from __future__ import annotations

import atexit
import ctypes
import dataclasses
import logging
import os
import threading
import time
from typing import Any

import billiard
from billiard.exceptions import WorkerLostError

from annotate.conf import AnnotateOptions, options, options_install
from labeling.services.ingestion.config import decode_processes
from labeling.services.ingestion.validation import PreparedImage, Rejected, decode_budget_share, image_prepare

logger = logging.getLogger(__name__)
_POLL_S = 0.5  # how often a waiting caller checks that its pool was not replaced under it
_ATTEMPTS = 2


class _Pool:
    def __init__(self, processes: int) -> None:
        ctx = billiard.get_context("spawn")
        self.processes = processes
        budget = (ctx.Condition(), ctx.Value(ctypes.c_int64, 0, lock=False))
        self.pool = ctx.Pool(processes, initializer=_child_init, initargs=budget)
        decode_budget_share(*budget)  # this process's threads decode small files: the same budget

    def close(self) -> None:
        self.pool.terminate()


_lock = threading.Lock()
_current: _Pool | None = None


def prepare(data: bytes) -> PreparedImage:
    """`image_prepare(data)` in the decoding pool (or in this thread when the pool size is 1)."""
    processes = decode_processes()
    # In the pool whatever the size (crash isolation), unless the operator chose otherwise (module docstring).
    if processes <= 1 or len(data) < options().INGEST_IN_THREAD_BELOW_BYTES:
        return image_prepare(data)
    result = _run(processes, data, options())
    if isinstance(result, Rejected):
        raise result
    return _restore(result, data)


def pool_shutdown() -> None:
    """Stop the pool's processes (at exit; tests)."""
    global _current
    with _lock:
        pool, _current = _current, None
    if pool is not None:
        pool.close()


atexit.register(pool_shutdown)


def _pool(processes: int) -> _Pool:
    global _current
    with _lock:
        if _current is None or _current.processes != processes:
            if _current is not None:
                _current.close()
            _current = _Pool(processes)
        return _current


def _retire(pool: _Pool) -> None:
    """Replace a pool one of whose children died (the shared budget may hold its share forever)."""
    global _current
    with _lock:
        if _current is not pool:
            return  # another caller did it already
        _current = None
    logger.warning("a decoding process died; the pool is restarted")
    pool.close()


def _run(processes: int, data: bytes, opts: AnnotateOptions) -> PreparedImage | Rejected:
    for _ in range(_ATTEMPTS):
        pool = _pool(processes)
        pending = pool.pool.apply_async(_prepare_in_child, (data, opts))
        while True:
            try:
                return pending.get(timeout=_POLL_S)
            except billiard.TimeoutError:
                if _current is not pool:
                    break  # replaced under us (another image killed it): submit again to the new pool
            except WorkerLostError:
                _retire(pool)
                break
    return Rejected("internal_error", "The decoding process died on this image (a decoder crash, or out of memory?).")


def _restore(prepared: PreparedImage, data: bytes) -> PreparedImage:
    """Put back the bytes the child did not send: the unchanged input, and the thumbnail that is the input."""
    stored = prepared.data if prepared.normalised else data
    thumbnail = stored if prepared.thumbnail_is_original else prepared.thumbnail
    return dataclasses.replace(prepared, data=stored, thumbnail=thumbnail)


# --- In the child -------------------------------------------------------------------------------------------


def _child_init(cond: Any, used: Any) -> None:
    decode_budget_share(cond, used)
    # Every child holds both ends of the pool's task pipe, so a parent that dies without closing the pool
    # (SIGKILL, os._exit) never gives them end-of-file: they watch for being orphaned instead.
    parent = os.getppid()
    threading.Thread(target=_exit_when_orphaned, args=(parent,), daemon=True, name="orphan-watch").start()


def _exit_when_orphaned(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(1.0)
    os._exit(0)


def _prepare_in_child(data: bytes, opts: AnnotateOptions) -> PreparedImage | Rejected:
    options_install(opts)
    try:
        prepared = image_prepare(data)
    except Rejected as exc:
        return exc
    except Exception as exc:  # a decoder bug must not sink the batch: the entry is rejected and reported
        logger.exception("unexpected error while preparing an image")
        return Rejected("internal_error", f"Unexpected error while decoding: {type(exc).__name__}: {exc}")
    return dataclasses.replace(
        prepared,
        data=prepared.data if prepared.normalised else b"",
        thumbnail=b"" if prepared.thumbnail_is_original else prepared.thumbnail,
    )
