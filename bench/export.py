"""Benchmark: exporting a 20k-image dataset version vs `tar -cf` of the same image files, in the same run.

    .venv/bin/python bench/export.py [--n 20000] [--side 48] [--formats imagefolder,webdataset]
        [--scales 1,4] [--repeat 3]

Needs PostgreSQL (DATABASE_URL); it creates a throwaway database `test_<name>` with tables built from the
models (no migrations), fills it with n distinct real JPEGs (saved through default_storage) and classify
items, creates a version, then for each format runs `manage.py export --json` in a subprocess whose peak
RSS is sampled with psutil every 10 ms. `tar -cf` archives the same image files (listed with -T) from the
storage root. ratio = tar seconds / export seconds (1.0 = as fast as tar; target >= 0.3), given twice: for the
whole command (interpreter + Django start, export, storage save, copy to --out) and for the part the command
itself times (export service incl. storage save and the copy to --out).

--scales 1,4 repeats it all for a version of n and one of 4n images (separate projects): peak RSS must not grow
with the data. Each (format, scale) runs --repeat times, tar and export alternately; medians are reported.

A benchmark reports; it never fails the build, so the exit status is 0 whatever the numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "annotate.settings.test")


def run_export(db_url: str, version_id: int, fmt: str, out: Path) -> tuple[float, int, dict]:
    from django.conf import settings

    env = {**os.environ, "DATABASE_URL": db_url, "ANNOTATE_VAR_DIR": str(settings.VAR_DIR),
           "MEDIA_ROOT": str(settings.MEDIA_ROOT)}  # fmt: skip
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "manage.py", "export", "--version", str(version_id), "--format", fmt,
                             "--out", str(out), "--json"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)  # fmt: skip
    ps, peak = psutil.Process(proc.pid), 0
    while proc.poll() is None:
        try:
            peak = max(peak, ps.memory_info().rss)
        except psutil.NoSuchProcess:
            break
        time.sleep(0.01)
    stdout, stderr = proc.communicate()
    seconds = time.perf_counter() - t0
    if proc.returncode:
        raise SystemExit(f"export failed: {stderr.decode()[-2000:]}")
    return seconds, peak, json.loads(stdout.decode().strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--side", type=int, default=48)
    parser.add_argument("--formats", default="imagefolder,webdataset")
    parser.add_argument("--scales", default="1,4", help="versions of n x each scale images (RSS flatness)")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    import django
    from django.conf import settings

    settings.MIGRATION_MODULES = {app: None for app in ("admin", "auth", "contenttypes", "sessions", "authtoken",
                                                         "annotate", "labeling", "training")}  # fmt: skip
    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.files.storage import default_storage
    from django.db import connection
    from django.test.utils import setup_databases, teardown_databases

    from labeling.models import DatasetExport
    from labeling.services.datasets import dataset_version_create
    from tests.helpers.workers import test_database_url
    from tests.labeling.datasets import factories as f

    old = setup_databases(verbosity=0, interactive=False)
    try:
        db_url = test_database_url()
        owner = get_user_model().objects.create_user("bench", password="x")  # noqa: S106
        print(f"# load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}; db {connection.vendor}")
        print(
            "| format | images | export s (command, end to end) | of which export service s | tar -cf s | "
            "ratio tar/end-to-end | ratio tar/service | archive MiB | peak RSS MiB |"
        )
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        all_files: list[str] = []
        for scale in [int(x) for x in args.scales.split(",")]:
            n = args.n * scale
            project = f.project(
                owner, slug=f"bench-{scale}-{int(time.time())}", classes=[f"class{i}" for i in range(10)]
            )
            t0 = time.perf_counter()
            stored = f.bulk_classify(project, n, side=args.side, seed=(int(time.time()) + scale) % 1000)
            gen_s = time.perf_counter() - t0
            version = dataset_version_create(project=project)
            files = [default_storage.path(x) for x in version.rows.values_list("image__file", flat=True)]
            all_files += files
            print(f"<!-- {n} images, {stored / 2**20:.1f} MiB of JPEGs ({args.side}x{args.side}); "
                  f"data generation {gen_s:.1f} s -->")  # fmt: skip
            with tempfile.TemporaryDirectory() as tmp:
                listing = Path(tmp) / "files.txt"
                listing.write_text("\n".join(os.path.relpath(p, settings.MEDIA_ROOT) for p in files) + "\n")
                for fmt in args.formats.split(","):
                    runs = []
                    for _ in range(args.repeat):
                        t0 = time.perf_counter()
                        subprocess.run(["tar", "-cf", str(Path(tmp) / "ref.tar"), "-C", str(settings.MEDIA_ROOT),
                                        "-T", str(listing)], check=True)  # fmt: skip
                        tar_s = time.perf_counter() - t0
                        seconds, peak, summary = run_export(db_url, version.id, fmt, Path(tmp) / f"{fmt}.tar")
                        runs.append((tar_s, seconds, summary["seconds"], summary["bytes"], peak))
                        for export in DatasetExport.objects.filter(version=version):  # or the next run is a copy
                            default_storage.delete(export.file.name)
                            export.delete()
                        for p in Path(tmp).glob("*.tar"):
                            p.unlink()
                    tar_s, seconds, inner, size, peak = (statistics.median(r[i] for r in runs) for i in range(5))
                    print(f"| {fmt} | {n} | {seconds:.2f} | {inner:.2f} | {tar_s:.2f} | {tar_s / seconds:.2f} | "
                          f"**{tar_s / inner:.2f}** | {size / 2**20:.1f} | {peak / 2**20:.0f} |")  # fmt: skip
        print(f"# load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        for name in all_files:
            os.unlink(name)
    finally:
        teardown_databases(old, verbosity=0)


if __name__ == "__main__":
    main()
