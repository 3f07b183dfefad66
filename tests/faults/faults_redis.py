"""A private redis-server on 127.0.0.1 (never the shared one on 6379) that a test may restart, and a way to
point this process's Celery producer at it for the duration of a test."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from tests.helpers.services import missing_service

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RedisServer:
    """redis-server with RDB snapshots off; `appendonly` chooses whether the AOF journal is kept."""

    def __init__(self, data_dir: Path, *, appendonly: bool) -> None:
        self.data_dir = data_dir
        self.appendonly = appendonly
        self.port = _free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def key(self, name: str) -> str:
        """A kombu key as stored: with the broker's global_keyprefix (set per pytest-xdist worker in
        annotate/settings/test.py), so direct reads see the queues the worker uses."""
        from django.conf import settings

        return settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("global_keyprefix", "") + name

    def client(self) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=5)

    def start(self) -> RedisServer:
        if not shutil.which(REDIS_SERVER):
            missing_service(f"redis-server not found at {REDIS_SERVER}")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        cmd = [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
               "--appendonly", "yes" if self.appendonly else "no", "--appendfsync", "everysec",
               "--dir", str(self.data_dir), "--logfile", str(self.data_dir / "redis.log")]  # fmt: skip
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with contextlib.suppress(redis.RedisError):
                if self.client().ping():
                    return self
            if self.proc.poll() is not None:
                raise RuntimeError(f"redis-server exited: {self.log()}")
            time.sleep(0.05)
        raise RuntimeError(f"redis-server did not answer in 20 s: {self.log()}")

    def shutdown(self) -> None:
        """SHUTDOWN NOSAVE: what `systemctl stop` / `docker stop` do with `save ""` and AOF on — no RDB
        snapshot; the AOF is flushed and fsynced on a clean shutdown whatever NOSAVE says."""
        # The server drops the connection instead of answering, which redis-py would retry (reconnect, refused,
        # back off) for about 4 s before giving up: a client that does not retry returns at once.
        client = redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=5, retry=Retry(NoBackoff(), 0))
        with contextlib.suppress(redis.ConnectionError):
            client.shutdown(nosave=True)
        if self.proc is not None:
            self.proc.wait(timeout=20)

    def restart(self) -> None:
        self.shutdown()
        self.start()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)

    def log(self) -> str:
        path = self.data_dir / "redis.log"
        return path.read_text(errors="replace")[-2000:] if path.exists() else ""


def _swap_producer_pools(app, pool, producer_pool) -> tuple:
    """Install the given broker connection pool and producer pool (None = built anew from broker_url on
    the next publish); return the ones that were installed, so the caller can put them back untouched."""
    amqp = app.amqp
    previous = (app._pool, amqp.__dict__.get("_producer_pool"))
    app._pool = pool
    amqp._producer_pool = producer_pool
    return previous


@contextlib.contextmanager
def producer_on(url: str, settings) -> Iterator[None]:
    """Point Django settings and the Celery app's producer at `url`; restore both afterwards.
    (Celery's `conf.broker_url` prefers the CELERY_BROKER_URL environment variable, so it is set too.)"""
    from annotate.celery import app

    old_env = os.environ.get("CELERY_BROKER_URL")
    old_url, old_setting = app.conf.broker_url, settings.CELERY_BROKER_URL
    os.environ["CELERY_BROKER_URL"] = url
    settings.CELERY_BROKER_URL = url
    app.conf.broker_url = url
    original_pools = _swap_producer_pools(app, None, None)
    try:
        yield
    finally:
        if old_env is None:
            os.environ.pop("CELERY_BROKER_URL", None)
        else:
            os.environ["CELERY_BROKER_URL"] = old_env
        app.conf.broker_url = old_url
        settings.CELERY_BROKER_URL = old_setting
        private_pool, _ = _swap_producer_pools(app, *original_pools)
        if private_pool is not None:  # close only the private broker's connections
            private_pool.force_close_all()
