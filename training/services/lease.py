"""A run's lease: the guarded renewal, and the heartbeat thread that keeps it for a whole attempt.

The lease (`lease_owner`, `lease_expires_at`) says which worker executes a run; another worker may take the
run over once it expired (execute.py `_acquire`, `runs_resume_stale`). Renewing it only where the trainer
happens to call back (between batches) left long silent stretches -- materialising a large version, computing
the pretrained probe's features -- in which a healthy run's lease ran out and a second worker started on it.
So an attempt holds a `Heartbeat`: a daemon thread that renews every TTL/3 from the moment the lease is taken
until the attempt ends, whatever the main thread is doing. It uses its own database connection (Django's are
per thread) and closes it when it stops. When a renewal finds the lease gone (the row names another owner, or
none), it sets `lost` and stops: the trainer's `should_stop` reads it and training ends at the next batch,
and every later write of the attempt is conditional on the owner anyway. A row this connection cannot see
proves nothing (a caller that executes the run inside its own transaction, as the tests do, has not
committed the lease yet): the heartbeat keeps trying, and the attempt's own guarded writes decide.
"""

from __future__ import annotations

import logging
import threading
from datetime import timedelta
from typing import Any

from django.db import DatabaseError, connections
from django.utils import timezone

from training.models import TrainingRun

log = logging.getLogger(__name__)

RETRY_SECONDS = 1.0  # after a failed renewal (database briefly unreachable or locked), try again this soon


def lease_renew(*, run_id: int, owner: str, ttl: float, **fields: Any) -> bool:
    """Extend `owner`'s lease on the run by `ttl` seconds (writing `fields` too); False if it is not theirs."""
    now = timezone.now()
    updated = TrainingRun.objects.filter(pk=run_id, lease_owner=owner).update(
        lease_expires_at=now + timedelta(seconds=ttl), heartbeat_at=now, updated_at=now, **fields
    )
    return updated > 0


class Heartbeat:
    """Renews a run's lease every `ttl / 3` seconds from a daemon thread until `stop()` or the lease is lost."""

    def __init__(self, *, run_id: int, owner: str, ttl: float) -> None:
        self.run_id, self.owner, self.ttl = run_id, owner, ttl
        self.interval = ttl / 3
        self.lost = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"lease-run-{run_id}", daemon=True)

    def start(self) -> Heartbeat:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=5.0)  # a renewal stuck on a lock ends on its own; it is a daemon

    def __enter__(self) -> Heartbeat:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _holder(self) -> str | None:
        """The run's lease owner as this connection sees it ("" for none); None when it sees no such run."""
        return TrainingRun.objects.filter(pk=self.run_id).values_list("lease_owner", flat=True).first()

    def _loop(self) -> None:
        wait = self.interval
        try:
            while not self._stop.wait(wait):
                try:
                    kept = lease_renew(run_id=self.run_id, owner=self.owner, ttl=self.ttl)
                    if self._stop.is_set():  # the attempt ended while this renewal waited for a lock
                        return
                    holder = None if kept else self._holder()
                except DatabaseError as exc:  # not a lost lease: the next try may well succeed
                    log.warning("run %s: lease renewal failed (%s); retrying", self.run_id, exc)
                    wait = min(self.interval, RETRY_SECONDS)
                    continue
                if not kept:
                    if holder is None:  # not visible from here (see the module docstring): nothing proven
                        continue
                    log.warning("run %s: lease lost (now held by %r); stopping", self.run_id, holder)
                    self.lost.set()
                    return
                wait = self.interval
        finally:
            connections.close_all()  # this thread's own connections only (they are per thread)
