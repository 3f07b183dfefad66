"""`make demo`'s command end to end, with no external service: SQLite + filesystem broker in a temp dir.

Starts `manage.py demo` exactly as `make demo` does, waits for the printed URL, checks the site,
the seeded project and a task round trip through the demo's own worker, then Ctrl-C stops both.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from contextlib import closing
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_demo_serves_seeded_project_with_a_worker_and_stops_on_ctrl_c(tmp_path):
    port = _free_port()
    dropped = {"DATABASE_URL", "CELERY_BROKER_URL", "DJANGO_SETTINGS_MODULE"}
    env = {k: v for k, v in os.environ.items() if k not in dropped}
    env.update({"ANNOTATE_VAR_DIR": str(tmp_path / "var"), "PYTHONUNBUFFERED": "1"})
    log = (tmp_path / "demo.log").open("w+")
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "demo", "--port", str(port), "--per-class", "12"],
        cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    try:
        url = None
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and url is None:
            assert proc.poll() is None, (tmp_path / "demo.log").read_text()[-3000:]
            match = re.search(r"running at (http://\S+)", (tmp_path / "demo.log").read_text())
            url = match.group(1) if match else None
            time.sleep(0.5)
        assert url, (tmp_path / "demo.log").read_text()[-3000:]
        output = (tmp_path / "demo.log").read_text()
        assert re.search(r"researcher\s+researcher\s+\S+", output)
        assert "volunteer3" in output

        health = None
        for _ in range(60):
            try:
                with urllib.request.urlopen(url + "healthz", timeout=5) as response:
                    health = json.load(response)
                    break
            except OSError:
                time.sleep(0.5)
        assert health and health["status"] == "ok" and health["broker"]["ok"] is True
        assert "detail" not in health["broker"]  # an anonymous caller is not told the stack

        logins = json.loads((tmp_path / "var" / "demo_logins.json").read_text())
        assert set(logins) >= {"admin", "researcher", "reviewer", "volunteer1", "volunteer2", "volunteer3"}

        # The seeded data, read from the demo's own SQLite database file (settings: VAR_DIR / "db.sqlite3") with
        # sqlite3 rather than a `manage.py shell` per query: each shell start-up is ~2 s of Django imports.
        db = tmp_path / "var" / "db.sqlite3"

        def query(sql: str, *params: object) -> int:
            with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)) as conn:
                return conn.execute(sql, params).fetchone()[0]

        projects = query("SELECT COUNT(*) FROM labeling_project")
        items = query("SELECT COUNT(*) FROM labeling_item i JOIN labeling_project p ON p.id = i.project_id"
                      " WHERE p.slug = ?", "demo-verify")  # fmt: skip
        assert projects == 3 and items >= 50, (projects, items)

        # A task through the demo's filesystem broker and worker: sent by the project's own Celery configuration
        # (the one subprocess left), then its row polled in the database.
        token = "demo-probe"
        subprocess.run(
            [sys.executable, "manage.py", "shell", "-c",
             f"from annotate.tasks import probe; probe.delay('{token}')"],
            cwd=REPO, env=env, check=True, timeout=60,
        )  # fmt: skip
        seen = 0
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            seen = query("SELECT COUNT(*) FROM annotate_taskprobe WHERE token = ?", token)
            if seen == 1:
                break
            time.sleep(0.2)
        assert seen == 1, (tmp_path / "demo.log").read_text()[-3000:]
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            raise
    assert proc.returncode == 0, (tmp_path / "demo.log").read_text()[-3000:]
    assert "Demo stopped" in (tmp_path / "demo.log").read_text()
