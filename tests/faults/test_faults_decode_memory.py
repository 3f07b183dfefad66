"""Decode memory is bounded (issue 17, finding 7).

A 9400x9400 RGBA PNG is a few hundred KB on disk, under the pixel cap, and 353 MB decoded. The ingest
worker took 0.9 -> 2.0 GB for one (the alpha was flattened at full size: two more full-size copies) and
3.2 GB for two in parallel. Measured in a fresh process (its peak RSS), two such images decoded by two
threads at once, as a batch's thread pool does.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
SIDE = 9400

MAKE = f"""
import sys
from PIL import Image
Image.new("RGBA", ({SIDE}, {SIDE}), (10, 120, 200, 128)).save(sys.argv[1], compress_level=1)
"""

MEASURE = """
import json, os, resource, sys, threading
import django
django.setup()
from labeling.services.ingestion.validation import image_prepare

data = open(sys.argv[1], "rb").read()
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
results = []
threads = [threading.Thread(target=lambda: results.append(image_prepare(data))) for _ in range(2)]
for t in threads:
    t.start()
for t in threads:
    t.join()
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"before_kb": before, "after_kb": after, "prepared": [(p.width, p.height, p.mode) for p in results],
                  "file_bytes": len(data)}))
"""


MEASURE_POOL = """
import io, json, sys, threading, time
import django
django.setup()
import psutil
from django.conf import settings
from PIL import Image
settings.ANNOTATE = {**settings.ANNOTATE, "INGEST_PROCESSES": 2, "INGEST_IN_THREAD_BELOW_BYTES": 0}
from labeling.services.ingestion import decoding

small = io.BytesIO()
Image.new("RGB", (64, 64)).save(small, "JPEG")
decoding.prepare(small.getvalue())  # starts the pool
children = psutil.Process().children(recursive=True)
base = sum(c.memory_info().rss for c in children)
peak, done = [base], threading.Event()

def sample():
    while not done.is_set():
        peak[0] = max(peak[0], sum(c.memory_info().rss for c in children))
        time.sleep(0.005)

sampler = threading.Thread(target=sample)
sampler.start()
data = open(sys.argv[1], "rb").read()
results = []
threads = [threading.Thread(target=lambda: results.append(decoding.prepare(data))) for _ in range(2)]
for t in threads:
    t.start()
for t in threads:
    t.join()
done.set()
sampler.join()
pids = {w.pid for w in decoding._current.pool._pool}
print(json.dumps({"base": base, "peak": peak[0], "prepared": [(p.width, p.height, p.mode) for p in results],
                  "pool": len(pids), "measured": len(children)}))
"""


def _run(code: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "annotate.settings.test"}
    return subprocess.run([sys.executable, "-c", code, *args], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=300)  # fmt: skip


def test_two_large_rgba_pngs_decoded_in_parallel_stay_under_a_budget(tmp_path):
    png = tmp_path / "large.png"
    made = _run(MAKE, str(png))
    assert made.returncode == 0, made.stderr
    result = _run(MEASURE, str(png))
    assert result.returncode == 0, result.stderr[-3000:]
    measured = json.loads(result.stdout.strip().splitlines()[-1])
    assert measured["prepared"] == [[SIDE, SIDE, "RGBA"]] * 2  # both accepted: under the caps, not refused
    grown_mb = (measured["after_kb"] - measured["before_kb"]) / 1024
    decoded_mb = SIDE * SIDE * 4 / 2**20  # 337 MiB: one decoded image at a time, plus small change
    assert grown_mb < decoded_mb * 1.6, f"peak RSS grew by {grown_mb:.0f} MiB decoding two {decoded_mb:.0f} MiB images"


def test_the_decoding_pool_shares_one_budget_across_its_processes(tmp_path):
    """Two processes, two large RGBA PNGs at once: the children's RSS together stays near one decoded image."""
    png = tmp_path / "large.png"
    made = _run(MAKE, str(png))
    assert made.returncode == 0, made.stderr
    result = _run(MEASURE_POOL, str(png))
    assert result.returncode == 0, result.stderr[-3000:]
    measured = json.loads(result.stdout.strip().splitlines()[-1])
    assert measured["prepared"] == [[SIDE, SIDE, "RGBA"]] * 2 and measured["pool"] == 2
    grown_mb = (measured["peak"] - measured["base"]) / 2**20
    decoded_mb = SIDE * SIDE * 4 / 2**20
    assert grown_mb < decoded_mb * 1.6, f"the pool's RSS grew by {grown_mb:.0f} MiB for two {decoded_mb:.0f} MiB images"


def test_an_image_that_decodes_past_the_byte_cap_is_refused_before_decoding(settings):
    import io

    from PIL import Image

    from labeling.services.ingestion.validation import Rejected, image_prepare

    settings.ANNOTATE = {**settings.ANNOTATE, "MAX_DECODE_BYTES": 3000 * 3000 * 4 - 1}
    buffer = io.BytesIO()
    Image.new("RGBA", (3000, 3000), (1, 2, 3, 4)).save(buffer, "PNG", compress_level=1)
    with pytest.raises(Rejected) as refused:
        image_prepare(buffer.getvalue())
    assert refused.value.code == "decompression_bomb" and "decodes to" in refused.value.message
    buffer = io.BytesIO()
    Image.new("L", (3000, 3000), 7).save(buffer, "PNG", compress_level=1)  # a quarter of the bytes: accepted
    assert image_prepare(buffer.getvalue()).width == 3000
