"""next_items cost against project size, in-process (no HTTP, no thread contention): issue 13's flatness proof.

    DATABASE_URL=postgres://... .venv/bin/python bench/next_scale.py [--sizes 10000,100000,1000000] [--rounds 40]

For each size, a throw-away database is seeded like bench/assign.py (a verify project, 10 categories, 3 votes,
5 % gold), then one volunteer asks for a 16-grid (`next_items`) and answers it (`annotations_submit_batch`)
--rounds times, after --others other volunteers have done the same (so items carry votes and leases). Reports
p50/p99 of next_items and of the submit per size and, last line, JSON {"sizes", "next_p50_ms", "next_p99_ms",
"submit_p50_ms", "submit_p99_ms", "next_p99_ratio_largest_to_smallest"}.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import assign  # sets DJANGO_SETTINGS_MODULE and the repository path
import django


def run_size(n_items: int, rounds: int, others: int) -> tuple[list[float], list[float]]:
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test.utils import teardown_test_environment

    from labeling.models import Project
    from labeling.services.annotations import annotations_submit_batch
    from labeling.services.assignment import next_items

    db_name = assign.setup_db()
    try:
        slug, _ = assign.seed(n_items, others + 1)
        project = Project.objects.get(slug=slug)
        users = list(get_user_model().objects.filter(username__startswith="bench").order_by("id"))

        def one_round(user) -> tuple[float, float]:
            t0 = time.perf_counter()
            items = next_items(user=user, project=project, n=assign.GRID)
            t1 = time.perf_counter()
            if len(items) != assign.GRID:
                raise SystemExit(f"{user.username} got {len(items)} items instead of a full grid")
            answers = [{"item_id": i.pk, "submission_id": uuid.uuid4(), "answer": {"label": 1}} for i in items]
            annotations_submit_batch(user=user, project=project, answers=answers)
            return t1 - t0, time.perf_counter() - t1

        for user in users[1:]:
            for _ in range(3):
                one_round(user)
        timings = [one_round(users[0]) for _ in range(rounds)]
        return [t[0] for t in timings], [t[1] for t in timings]
    finally:
        connection.creation.destroy_test_db(db_name, verbosity=0)
        teardown_test_environment()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--others", type=int, default=8)
    args = parser.parse_args()
    django.setup()
    sizes = [int(s) for s in args.sizes.split(",")]
    out: dict[str, list] = {"sizes": sizes, "next_p50_ms": [], "next_p99_ms": [], "submit_p50_ms": [],
                            "submit_p99_ms": []}  # fmt: skip
    for size in sizes:
        t0 = time.perf_counter()
        nxt, sub = run_size(size, args.rounds, args.others)
        row = [round(assign.pct(v, q) * 1000, 1) for v in (nxt, sub) for q in (0.5, 0.99)]
        for key, value in zip(["next_p50_ms", "next_p99_ms", "submit_p50_ms", "submit_p99_ms"], row, strict=True):
            out[key].append(value)
        print(f"{size:>9} items: next p50 {row[0]} ms p99 {row[1]} ms, submit p50 {row[2]} ms p99 {row[3]} ms "
              f"({time.perf_counter() - t0:.0f} s with seeding)", flush=True)  # fmt: skip
    out["next_p99_ratio_largest_to_smallest"] = round(out["next_p99_ms"][-1] / out["next_p99_ms"][0], 2)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
