"""A real Celery worker in a subprocess, against the configured broker and the *test* database."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.db import connection

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_database_url() -> str:
    """The URL of the database pytest-django created, so the worker writes where the tests read."""
    s = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{s['NAME']}"
    user = s.get("USER") or ""
    password = f":{s['PASSWORD']}" if s.get("PASSWORD") else ""
    auth = f"{user}{password}@" if user else ""
    port = f":{s['PORT']}" if s.get("PORT") else ""
    return f"postgres://{auth}{s.get('HOST') or '127.0.0.1'}{port}/{s['NAME']}"


_STARTED: list[WorkerProcess] = []  # every worker of this session, so a test can have the queues to itself


@dataclass
class WorkerProcess:
    queues: str
    concurrency: int = 1
    env_extra: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen | None = None
    log_path: Path | None = None
    cwd: Path = REPO_ROOT  # another directory: the worker of another host (the repository on PYTHONPATH)
    ready: bool = field(default=False, init=False)  # answered a probe since it was last started

    def start(self) -> WorkerProcess:
        self.ready = False
        env = os.environ.copy()
        env.update(
            {
                "DATABASE_URL": test_database_url(),
                "DJANGO_SETTINGS_MODULE": "annotate.settings.test",
                "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
                "ANNOTATE_VAR_DIR": str(settings.VAR_DIR),
                "MEDIA_ROOT": str(settings.MEDIA_ROOT),
                "PYTHONUNBUFFERED": "1",
                "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH", "")])),
            }
        )
        env.update(self.env_extra)
        fd, name = tempfile.mkstemp(prefix="celery-worker-", suffix=".log")
        os.close(fd)
        self.log_path = Path(name)
        self.proc = subprocess.Popen(
            [
                sys.executable, "-m", "celery", "-A", "annotate", "worker",
                "-Q", self.queues, "-c", str(self.concurrency), "-P", "prefork",
                "-n", f"test-{uuid.uuid4().hex[:8]}@%h",
                "--without-gossip", "--without-mingle", "--without-heartbeat", "-l", "INFO",
            ],
            cwd=self.cwd, env=env, stdout=self.log_path.open("wb"), stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        if not any(w is self for w in _STARTED):
            _STARTED.append(self)
        return self

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Send the probe task and wait until the worker has written it to the database."""
        from annotate.models import TaskProbe
        from annotate.tasks import probe

        token = uuid.uuid4().hex
        probe.delay(token)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if TaskProbe.objects.filter(token=token).exists():
                self.ready = True
                return
            if self.proc and self.proc.poll() is not None:
                raise RuntimeError(f"celery worker exited early:\n{self.log()}")
            time.sleep(0.2)
        raise RuntimeError(f"celery worker not ready after {timeout}s:\n{self.log()}")

    def ensure_ready(self) -> None:
        if not self.ready:
            self.wait_ready()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:] if self.log_path else ""

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Kill the whole worker process group (the pool children too), like `kill -9`."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)
            self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()


@contextmanager
def other_workers_stopped() -> Iterator[None]:
    """Stop this session's running workers (gracefully) and start them again afterwards: for a test whose own
    workers, configured differently (another storage, another var dir), must receive every task.

    They are started again, not waited for: the next test that needs one waits for it (the `celery_worker`
    fixture), and the next test that stops them again (a module of such tests) does not wait for a start-up it
    undoes at once."""
    running = [w for w in _STARTED if w.proc and w.proc.poll() is None]
    for worker in running:
        worker.stop()
    try:
        yield
    finally:
        for worker in running:
            worker.start()


def purge_queues() -> None:
    from annotate.celery import app

    with app.connection_for_write() as conn:
        for queue in ("default", "ingest", "gpu"):
            try:
                conn.default_channel.queue_purge(queue)
            except Exception:  # noqa: S112 - a queue that does not exist yet has nothing to purge
                continue
