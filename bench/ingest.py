"""Ingest throughput as a ratio to the Pillow bound of all cores, and near-duplicate lookup time vs index size.

    DATABASE_URL=postgres://... .venv/bin/python -u bench/ingest.py [--folder ../shared/data/images/imagenette_224]
        [--photos 2000] [--repeat 3] [--big 200 | --skip-big] [--sizes 10000,100000]

(a) Ingest end to end (`batch_run`, the code the worker and `manage.py ingest` run: read, decode, validate,
    thumbnail, pHash, content-addressed storage in a fresh MEDIA_ROOT, near-dup index, DB writes, items) in
    images/s, over the bound measured in the same run on the same files:
      * Pillow bound of all cores: `Image.open` + `thumbnail((256, 256))` of every file in a process pool of
        os.cpu_count() processes (warmed up first; files read by the workers; no encoding, no database);
      * per core: the same in a tight single-threaded loop (the bound of earlier RESULTS.md tables).
    Target: ingest >= 0.5 x the all-core bound on ImageNet-typical photos.
(b) Inputs: imagenette_224 (../shared, skipped when absent); N generated ImageNet-typical photos (500x375 JPEG
    q90, ~110 KB: gradients, shapes, blurred, low- and high-frequency noise; cached under
    /tmp/annotate-bench-photos); optionally N generated 12-megapixel JPEGs (/tmp/annotate-bench-12mp).
(c) Near-duplicate lookup (labeling.algorithms.phash_index, radius 8) per query at each index size.

Each measurement runs --repeat times and the median is reported (the box is shared); every ingest run starts
from empty image tables and an empty MEDIA_ROOT (a second run would otherwise find every file stored already).
Runs against a throw-away database `<db>_bench` created without migrations (tables from the models).
"""

from __future__ import annotations

import argparse
import io
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "annotate.settings.test")

import django

BIG_DIR = Path("/tmp/annotate-bench-12mp")
PHOTO_DIR = Path("/tmp/annotate-bench-photos")


def image_files(root: Path) -> list[Path]:
    exts = {".jpg", ".jpeg", ".png"}
    return sorted(p for p in root.rglob("*") if p.suffix.lower() in exts)


def _thumbnail_one(path: str) -> None:
    from PIL import Image

    with Image.open(path) as im:
        im.thumbnail((256, 256))


def _thumbnail_many(paths: list[str]) -> int:
    for path in paths:
        _thumbnail_one(path)
    return len(paths)


def pillow_bound(files: list[Path]) -> float:
    """Single core: open + thumbnail in a tight loop."""
    started = time.perf_counter()
    for path in files:
        _thumbnail_one(str(path))
    return len(files) / (time.perf_counter() - started)


def pillow_bound_all_cores(files: list[Path], cores: int) -> float:
    """All cores: the same loop split over a warmed-up process pool (the ceiling of any ingest design)."""
    paths = [str(p) for p in files]
    step = max(1, len(paths) // (cores * 8))
    chunks = [paths[i : i + step] for i in range(0, len(paths), step)]
    with ProcessPoolExecutor(max_workers=cores) as pool:
        list(pool.map(_thumbnail_many, [paths[:2]] * cores))  # start and import in every process
        started = time.perf_counter()
        done = sum(pool.map(_thumbnail_many, chunks))
        return done / (time.perf_counter() - started)


def make_photos(n: int) -> Path:
    """ImageNet-typical photos: 500x375 JPEG q90, ~110 KB (the mean size of ImageNet's training JPEGs)."""
    import numpy as np
    from PIL import Image, ImageDraw, ImageFilter

    folder = PHOTO_DIR / "photos"
    folder.mkdir(parents=True, exist_ok=True)
    w, h = 500, 375
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    for i in range(n):
        path = folder / f"{i:05d}.jpg"
        if path.exists():
            continue
        r, rng = random.Random(i), np.random.default_rng(i)
        base = np.stack(
            [r.uniform(40, 200) + r.uniform(-0.4, 0.4) * x + r.uniform(-0.4, 0.4) * y for _ in range(3)], -1
        )
        img = Image.fromarray(np.clip(base, 0, 255).astype(np.uint8))
        draw = ImageDraw.Draw(img)
        for _ in range(25):
            x0, y0 = r.randrange(w), r.randrange(h)
            box = [x0, y0, x0 + r.randrange(10, 200), y0 + r.randrange(10, 150)]
            (draw.ellipse if r.random() < 0.5 else draw.rectangle)(box, fill=tuple(r.randrange(256) for _ in range(3)))
        img = img.filter(ImageFilter.GaussianBlur(1.5))
        low = rng.integers(0, 256, (h // 4, w // 4, 3), dtype=np.uint8)
        texture = np.asarray(Image.fromarray(low).resize((w, h), Image.Resampling.BICUBIC), np.int16) - 128
        pixels = np.asarray(img, np.int16) + (texture * 0.6).astype(np.int16)
        pixels += rng.normal(0, 17, (h, w, 3)).astype(np.int16)
        buf = io.BytesIO()
        Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(buf, "JPEG", quality=90)
        path.write_bytes(buf.getvalue())
    return PHOTO_DIR


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


def reset_state() -> None:
    """Empty image tables and MEDIA_ROOT: every run stores every file (no cross-run exact duplicates)."""
    from django.conf import settings
    from django.db import connection

    from labeling.models import Image, IngestBatch, Project

    tables = ", ".join(m._meta.db_table for m in (Image, IngestBatch, Project))
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
    media = Path(settings.STORAGES["default"]["OPTIONS"]["location"])
    shutil.rmtree(media, ignore_errors=True)
    media.mkdir(parents=True)


def ingest_rate(folder: Path, slug: str) -> tuple[float, int, dict]:
    from labeling.models import IngestBatch
    from labeling.services.ingestion import batch_create, batch_report, batch_run
    from labeling.services.projects import project_create

    reset_state()
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


def _median(values: list[float]) -> str:
    return f"{statistics.median(values):.1f} ({', '.join(f'{v:.0f}' for v in values)})"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--folder", default=str(Path(__file__).resolve().parents[2] / "shared/data/images/imagenette_224")
    )
    parser.add_argument("--photos", type=int, default=2000, help="generated ImageNet-typical photos (0: none)")
    parser.add_argument("--repeat", type=int, default=3)
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
    cores = os.cpu_count() or 1
    print(f"database: {connection.vendor} ({connection.settings_dict['NAME']}), cores: {cores}, "
          f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")  # fmt: skip
    sets = []
    if Path(args.folder).is_dir():
        sets.append(("imagenette_224", Path(args.folder)))
    if args.photos:
        sets.append((f"{args.photos} ImageNet-typical photos (500x375 q90)", make_photos(args.photos)))
    if not args.skip_big:
        sets.append((f"{args.big} x 12 MP JPEG", make_big(args.big)))
    print("| input | images | KB/image | ingest img/s | Pillow bound all cores img/s | ratio (target >= 0.5) "
          "| bound per core img/s | ingest / per-core bound |")  # fmt: skip
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for i, (name, folder) in enumerate(sets):
        files = image_files(folder)
        kb = sum(p.stat().st_size for p in files) / len(files) / 1024
        rates, bounds, per_core, n, report = [], [], [], 0, {}
        for r in range(args.repeat):
            bounds.append(pillow_bound_all_cores(files, cores))
            per_core.append(pillow_bound(files))
            rate, n, report = ingest_rate(folder, slug=f"bench-{i}-{r}")
            rates.append(rate)
        rate, bound, core = (statistics.median(v) for v in (rates, bounds, per_core))
        print(f"| {name} | {n} | {kb:.0f} | {_median(rates)} | {_median(bounds)} | **{rate / bound:.2f}** | "
              f"{_median(per_core)} | {rate / core:.2f} |")  # fmt: skip
        print(f"<!-- report of the last run: {report} -->")
    print(f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    for n, per_query_us, build in near_dup_lookup([int(s) for s in args.sizes.split(",")]):
        print(f"near-dup lookup at {n} hashes: {per_query_us:.1f} µs/query (index build {build:.2f} s)")
    connection.creation.destroy_test_db(connection.settings_dict["NAME"], verbosity=0)
    shutil.rmtree(media, ignore_errors=True)


if __name__ == "__main__":
    main()
