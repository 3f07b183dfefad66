"""Ingest throughput as a ratio to the Pillow bound, and near-duplicate lookup time vs index size.

    DATABASE_URL=postgres://... .venv/bin/python bench/ingest.py [--folder ../shared/data/images/imagenette_224]
        [--big 200] [--skip-big] [--sizes 10000,100000]

(a) Folder ingest (`batch_run`, the code the worker and `manage.py ingest` run: decode, validate, thumbnail,
    pHash, content-addressed storage in a fresh MEDIA_ROOT, near-dup index, DB writes, items) in images/s,
    over the bound measured in the same run on the same files: Pillow `open` + `thumbnail((256, 256))` in a
    tight single-threaded loop (= per core). The ingest uses INGEST_THREADS (default: all cores) for decoding.
    Target: ratio >= 0.7.
(b) The same for N generated 12-megapixel JPEGs (4000x3000, cached under /tmp/annotate-bench-12mp).
(c) Near-duplicate lookup (labeling.algorithms.phash_index, radius 8) per query at each index size.

Runs against a throw-away database `<db>_bench` created without migrations (tables from the models).
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "annotate.settings.test")

import django

BIG_DIR = Path("/tmp/annotate-bench-12mp")


def image_files(root: Path) -> list[Path]:
    exts = {".jpg", ".jpeg", ".png"}
    return sorted(p for p in root.rglob("*") if p.suffix.lower() in exts)


def pillow_bound(files: list[Path]) -> float:
    from PIL import Image

    started = time.perf_counter()
    for path in files:
        with Image.open(path) as im:
            im.thumbnail((256, 256))
    return len(files) / (time.perf_counter() - started)


def make_big(n: int) -> Path:
    import numpy as np
    from PIL import Image, ImageDraw

    BIG_DIR.mkdir(exist_ok=True)
    rng = np.random.default_rng(0)
    noise = rng.integers(-12, 12, size=(3000, 4000, 3), dtype=np.int16)
    for i in range(n):
        path = BIG_DIR / "bench" / f"{i:04d}.jpg"
        if path.exists():
            continue
        path.parent.mkdir(exist_ok=True)
        r = random.Random(i)
        small = Image.new("RGB", (400, 300), tuple(r.randrange(256) for _ in range(3)))
        draw = ImageDraw.Draw(small)
        for _ in range(12):
            x, y = r.randrange(400), r.randrange(300)
            draw.ellipse(
                [x, y, x + r.randrange(20, 200), y + r.randrange(20, 150)],
                fill=tuple(r.randrange(256) for _ in range(3)),
            )
        base = np.asarray(small.resize((4000, 3000), Image.Resampling.BICUBIC), dtype=np.int16)
        shifted = np.roll(noise, shift=i * 37, axis=1)
        Image.fromarray(np.clip(base + shifted, 0, 255).astype(np.uint8)).save(path, "JPEG", quality=90)
    return BIG_DIR


def setup_db() -> None:
    from django.conf import settings

    settings.MIGRATION_MODULES = {app.split(".")[-1]: None for app in settings.INSTALLED_APPS}
    settings.DATABASES["default"]["TEST"]["NAME"] = settings.DATABASES["default"]["NAME"] + "_bench"
    from django.db import connection
    from django.test.utils import setup_test_environment

    setup_test_environment()
    connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)


def ingest_rate(folder: Path, slug: str) -> tuple[float, int, dict]:
    from labeling.models import IngestBatch
    from labeling.services.ingestion import batch_create, batch_report, batch_run
    from labeling.services.projects import project_create

    project = project_create(slug=slug)
    batch = batch_create(project=project, kind=IngestBatch.Kind.FOLDER, source=str(folder), default_category=None)
    started = time.perf_counter()
    batch = batch_run(batch_id=batch.id)
    elapsed = time.perf_counter() - started
    report = batch_report(batch=batch)
    images = batch.ingested + batch.duplicates + batch.near_duplicates
    return images / elapsed, images, report


def near_dup_lookup(sizes: list[int]) -> list[tuple[int, float, float]]:
    from labeling.algorithms.phash_index import PHashIndex

    rows = []
    rng = random.Random(0)
    for n in sizes:
        codes = [rng.getrandbits(64) for _ in range(n)]
        started = time.perf_counter()
        index = PHashIndex()
        index.extend((c, i) for i, c in enumerate(codes))
        build = time.perf_counter() - started
        queries = [rng.getrandbits(64) for _ in range(1000)] + [c ^ (1 << rng.randrange(64)) for c in codes[:1000]]
        started = time.perf_counter()
        for q in queries:
            index.nearest(q, 8)
        rows.append((n, (time.perf_counter() - started) / len(queries) * 1e6, build))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--folder", default=str(Path(__file__).resolve().parents[2] / "shared/data/images/imagenette_224")
    )
    parser.add_argument("--big", type=int, default=200)
    parser.add_argument("--skip-big", action="store_true")
    parser.add_argument("--sizes", default="10000,100000")
    args = parser.parse_args()

    media = tempfile.mkdtemp(prefix="annotate-bench-media-")
    os.environ["MEDIA_ROOT"] = media
    django.setup()
    from django.conf import settings
    from django.db import connection

    settings.STORAGES["default"]["OPTIONS"]["location"] = media
    setup_db()
    from labeling.services.ingestion.config import ingest_threads

    print(
        f"database: {connection.vendor} ({connection.settings_dict['NAME']}), cores: {os.cpu_count()}, "
        f"ingest threads: {ingest_threads()}"
    )
    sets = [("imagenette_224", Path(args.folder))]
    if not args.skip_big:
        sets.append((f"{args.big} x 12 MP JPEG", make_big(args.big)))
    for i, (name, folder) in enumerate(sets):
        files = image_files(folder)
        bound = pillow_bound(files)
        rate, n, report = ingest_rate(folder, slug=f"bench-{i}")
        print(
            f"{name}: {n} images, ingest {rate:.1f} img/s, Pillow bound {bound:.1f} img/s per core, "
            f"ratio {rate / bound:.2f} (per thread used: {rate / bound / ingest_threads():.2f}); report {report}"
        )
    for n, per_query_us, build in near_dup_lookup([int(s) for s in args.sizes.split(",")]):
        print(f"near-dup lookup at {n} hashes: {per_query_us:.1f} µs/query (index build {build:.2f} s)")
    connection.creation.destroy_test_db(connection.settings_dict["NAME"], verbosity=0)
    shutil.rmtree(media, ignore_errors=True)


if __name__ == "__main__":
    main()
