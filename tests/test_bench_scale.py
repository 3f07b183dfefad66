"""bench/scale.py runs from a checkout on the configured database and ends with the issue's JSON line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
KEYS = {"items", "votes", "reaggregate_s", "reaggregate_peak_rss_mb", "rows_written", "dataset_create_s", "export_s",
        "submit_p50_ratio", "submit_p99_ratio", "answers_per_s"}  # fmt: skip


@pytest.mark.slow
def test_scale_benchmark_smoke_run():
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    result = subprocess.run(
        [sys.executable, "bench/scale.py", "--items", "1000", "--categories", "20", "--votes", "3000",
         "--volunteers", "30", "--rounds", "2", "--db-suffix", f"scalebench_{uuid.uuid4().hex[:8]}", "--json"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert set(out) >= KEYS, KEYS - set(out)
    assert out["items"] == 1000 and out["votes"] == 3000
    # every voted item's decision is written once by the first full re-aggregation
    assert out["rows_written"] > 0 and out["reaggregate_peak_rss_mb"] > 0
    assert out["export_status"] == "done" and out["dataset_rows"] > 0
    # two rounds of 16 fresh items, every answer stored
    assert out["answers_per_s"] > 0 and out["submit_p50_ratio"] > 0
    for page in ("quality_page_s", "quality_api_s", "annotators_page_s"):
        assert out[page] > 0
