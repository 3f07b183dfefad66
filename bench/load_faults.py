"""Load with faults over HTTP: N concurrent volunteers submit M answers through gunicorn + PostgreSQL, with
forced client timeouts and retries of the same submission ids; then the database is read back.

    DATABASE_URL=postgres://... .venv/bin/python bench/load_faults.py --volunteers 64 --answers 10000

Creates a throw-away database `<db>_faultsbench` (tables from the models), seeds a verify project by SQL
(`bench/assign.py`'s seed: 10 categories, 3 votes per item, 5 % gold) with enough items for --answers,
starts gunicorn on 127.0.0.1 and runs `bench/_http_load.run_volunteers` until --answers answers are
accepted (bounded by --seconds). Every `--timeout-every`-th submit of a volunteer is first cut by a
5 ms client read timeout and then re-sent with the same submission ids.
Reports throughput, p50/p99 of next and submit, and the integrity counts: lost (acknowledged but not
stored), duplicated, stored-but-unacknowledged, over-assigned (leases or answers beyond needed_votes,
gold excepted), a (user, item) twice. A benchmark reports; its exit status is 1 only if an integrity
count is not 0 (that is a bug, not a slow machine).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "annotate.settings.test")

import django  # noqa: E402

from bench._http_load import GRID, MUST_BE_ZERO, integrity_report, run_volunteers, start_gunicorn, stop_process  # noqa: E402
from bench.assign import VOTES, free_port, pct, seed, warm_up  # noqa: E402


def setup_db() -> str:
    from django.conf import settings

    settings.MIGRATION_MODULES = {app.split(".")[-1]: None for app in settings.INSTALLED_APPS}
    settings.DATABASES["default"]["TEST"]["NAME"] = settings.DATABASES["default"]["NAME"] + "_faultsbench"
    from django.db import connection
    from django.test.utils import setup_test_environment

    setup_test_environment()
    return connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)


def database_url(db_name: str) -> str:
    from django.conf import settings

    db = settings.DATABASES["default"]
    return f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db_name}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--volunteers", type=int, default=64)
    parser.add_argument("--answers", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=1800, help="upper bound on the load phase")
    parser.add_argument("--timeout-every", type=int, default=7, help="force a client timeout every k-th submit")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args()
    django.setup()
    from django.db import connection

    if connection.vendor != "postgresql":
        print("bench/load_faults.py needs PostgreSQL: set DATABASE_URL=postgres://...")
        return 0
    n_items = int(args.answers / VOTES * 1.25) + args.volunteers * GRID
    t0 = time.perf_counter()
    db_name = setup_db()
    server = None
    try:
        slug, tokens = seed(n_items, args.volunteers)
        print(f"seeded {n_items} items, {args.volunteers} volunteers in {time.perf_counter() - t0:.1f} s "
              f"(database {db_name}, cores {os.cpu_count()}, load average {os.getloadavg()[0]:.1f})")  # fmt: skip
        port = free_port()
        server = start_gunicorn(database_url=database_url(db_name), port=port, workers=args.workers,
                                threads=args.threads)  # fmt: skip
        base = f"http://127.0.0.1:{port}"
        warm_up(base, tokens[0], args.workers)
        res = run_volunteers(base=base, slug=slug, tokens=tokens, target_answers=args.answers,
                             seconds=args.seconds, timeout_every=args.timeout_every)  # fmt: skip
        load_after = os.getloadavg()[0]
        stop_process(server)
        server = None
        counts = integrity_report(res, project_slug=slug)
    finally:
        stop_process(server)
        connection.creation.destroy_test_db(db_name, verbosity=0)
    stored = counts["stored"]
    print(f"gunicorn {args.workers} workers x {args.threads} threads, {args.volunteers} volunteers, "
          f"{res.wall:.1f} s, load average at the end {load_after:.1f}")  # fmt: skip
    print(f"throughput: {stored / res.wall:.1f} answers/s stored, {len(res.lat['next']) / res.wall:.2f} grids/s")
    for name in ("next", "submit"):
        print(f"{name:>6}: n={len(res.lat[name])} p50 {pct(res.lat[name], 0.5) * 1000:.0f} ms, "
              f"p99 {pct(res.lat[name], 0.99) * 1000:.0f} ms")  # fmt: skip
    print(
        f"forced client timeouts {res.forced_timeouts}, retried requests {res.retries}, "
        f"ok results {sum(res.accepted.values())} for {len(res.accepted)} submission ids, created {res.created}"
    )
    print(f"integrity: {counts}")
    print(f"answers refused (4xx result, not stored): {dict(res.refused) or 0}")
    print(f"failures (5xx, transport, gave up): {dict(res.failures) or 0}")
    bad = {k: counts[k] for k in MUST_BE_ZERO if counts[k]}
    if bad or counts["accepted"] != stored:
        print(f"INTEGRITY VIOLATION: {bad}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
