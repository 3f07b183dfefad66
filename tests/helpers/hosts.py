"""Processes as if on separate hosts: each its own working directory and ANNOTATE_VAR_DIR, sharing only
PostgreSQL, the broker and an S3 bucket (tests/e2e/test_multi_host.py; the README's scale-out guide)."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import requests
from django.conf import settings

from tests.helpers.s3 import free_port
from tests.helpers.workers import REPO_ROOT, WorkerProcess, test_database_url


@dataclass(frozen=True)
class Host:
    """One machine's private directory: the process's cwd, its ANNOTATE_VAR_DIR and its (unused) MEDIA_ROOT."""

    name: str
    root: Path

    @property
    def var_dir(self) -> Path:
        return self.root / "var"

    def env(self, shared: dict[str, str]) -> dict[str, str]:
        # checkpoints and a gpu worker's materialised data go to the default, under this host's var dir
        return {**shared, "ANNOTATE_VAR_DIR": str(self.var_dir), "MEDIA_ROOT": str(self.var_dir / "media")}

    def files(self, *suffixes: str) -> list[Path]:
        return [p for p in self.root.rglob("*") if p.is_file() and p.suffix.lower() in suffixes]


def shared_env(s3_env: dict[str, str]) -> dict[str, str]:
    """What every host is given: the database, the broker, the bucket and the one secret key."""
    return {"DATABASE_URL": test_database_url(), "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
            "DJANGO_SETTINGS_MODULE": "annotate.settings.test", "SECRET_KEY": "multi-host-test-secret-key-0123456789",
            **s3_env}  # fmt: skip


def start_worker(host: Host, shared: dict[str, str], queues: str) -> WorkerProcess:
    return WorkerProcess(queues=queues, env_extra=host.env(shared), cwd=host.root).start()


@dataclass
class WebProcess:
    url: str
    proc: subprocess.Popen
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    def stop(self) -> None:
        from bench._http_load import stop_process

        stop_process(self.proc)


def start_web(host: Host, shared: dict[str, str], timeout: float = 60.0) -> WebProcess:
    """gunicorn (2 workers x 4 threads) on a free 127.0.0.1 port, in the host's directory; returns when it answers."""
    port = free_port()
    fd, name = tempfile.mkstemp(prefix=f"{host.name}-gunicorn-", suffix=".log")
    os.close(fd)
    env = {**os.environ, **host.env(shared), "PYTHONUNBUFFERED": "1",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH", "")]))}  # fmt: skip
    cmd = [str(Path(sys.executable).parent / "gunicorn"), "annotate.wsgi:application", "--bind", f"127.0.0.1:{port}",
           "--workers", "2", "--threads", "4", "--timeout", "120", "--log-level", "warning"]  # fmt: skip
    proc = subprocess.Popen(cmd, env=env, cwd=host.root, stdout=open(name, "wb"), stderr=subprocess.STDOUT,  # noqa: SIM115
                            start_new_session=True)  # fmt: skip
    web = WebProcess(url=f"http://127.0.0.1:{port}", proc=proc, log_path=Path(name))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"gunicorn exited:\n{web.log()}")
        try:
            if requests.get(f"{web.url}/api/me/", timeout=15).status_code in (401, 403):
                return web
        except (requests.ConnectionError, requests.Timeout):
            pass
        time.sleep(0.2)
    web.stop()
    raise RuntimeError(f"gunicorn not answering after {timeout}s:\n{web.log()}")
