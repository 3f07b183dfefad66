"""Benchmark of the full re-aggregation (issue 26, build item 2): wall time, peak RSS, rows written.

    DATABASE_URL=postgres://... .venv/bin/python bench/reaggregate.py [--items 100000] [--voted 0.2]
        [--users 500] [--old-tree /path/to/an/older/checkout] [--json]

Creates a throw-away database `<db>_reaggbench` (tables from this tree's models), seeds two identical verify
projects by SQL (--items items each, 10 categories; a --voted share of them has 3 votes from --users simulated
volunteers, right with probability 0.85), then runs `project_reaggregate` in a fresh process per run: this tree on
one project, and --old-tree's code (same database, same schema: an older tree ignores the columns it does not
know) on the other, twice each -- the first run decides every voted item, the second is the steady state of a
periodic run that finds nothing new. Each run reports seconds, peak RSS of its process (MB) and rows written.
With --json the last stdout line is {"items", "votes", "new": [run1, run2], "old": [run1, run2]}.
A benchmark reports; its exit status is 0 whatever the numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _setup(tree: Path) -> None:
    sys.path.insert(0, str(tree))
    os.chdir(tree)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "annotate.settings.test")
    import django

    django.setup()


def setup_db() -> str:
    from django.conf import settings

    settings.MIGRATION_MODULES = {app.split(".")[-1]: None for app in settings.INSTALLED_APPS}
    settings.DATABASES["default"]["TEST"]["NAME"] = settings.DATABASES["default"]["NAME"] + "_reaggbench"
    from django.db import connection
    from django.test.utils import setup_test_environment

    setup_test_environment()
    return connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)


def seed(n_items: int, voted: float, n_users: int) -> tuple[list[int], int]:
    from django.db import connection

    from labeling.services.projects import project_create

    with connection.cursor() as cur:
        cur.execute(
            "INSERT INTO auth_user (username, password, is_superuser, first_name, last_name, email, is_staff,"
            " is_active, date_joined) SELECT 'rb' || g, '', false, '', '', '', false, true, now()"
            " FROM generate_series(1, %s) g",
            [n_users],
        )
        cur.execute("SELECT min(id) FROM auth_user WHERE username LIKE 'rb%%'")
        first_user = cur.fetchone()[0]
    projects, votes = [], 0
    for p in range(2):
        project = project_create(
            slug=f"reagg{p}", task_type="verify", min_votes=3, max_votes=5, gold_rate=0.0, audit_rate=0.0,
            categories=[{"name": f"class{i}"} for i in range(10)],
        )  # fmt: skip
        cats = list(project.categories.order_by("id").values_list("id", flat=True))
        with connection.cursor() as cur:
            cur.execute(
                "INSERT INTO labeling_image (sha256, file, thumbnail, width, height, format, mode, size_bytes,"
                " created_at) SELECT md5(%s || g::text) || md5((g + 7)::text),"
                " 'images/rb' || %s || '/' || g || '.jpg', '',"
                " 64, 48, 'JPEG', 'RGB', 1000, now() FROM generate_series(1, %s) g",
                [f"p{p}-", p, n_items],
            )
            cur.execute(
                "INSERT INTO labeling_item (project_id, image_id, category_id, status, votes_count, needed_votes,"
                " priority, is_gold, review_reason, created_at, updated_at) "
                "SELECT %s, id, (%s::bigint[])[1 + id %% 10], 'open', 0, 3, 0, false, '', now(), now()"
                " FROM labeling_image WHERE file LIKE %s",
                [project.id, cats, f"images/rb{p}/%"],
            )
            # Deterministic votes: item i (by rank) is voted when hash(i) < voted; its truth is i % 2; three
            # distinct users per item; each vote right unless hash(item, k) < 0.15. The same for both projects.
            cur.execute(
                "WITH ranked AS (SELECT id, row_number() OVER (ORDER BY id) AS r FROM labeling_item"
                " WHERE project_id = %s) "
                "INSERT INTO labeling_annotation (item_id, user_id, submission_id, label, answer, time_spent_ms,"
                " client_info, created_at) "
                "SELECT id, %s + ((r * 7 + k * 131) %% %s), md5(%s || id || '-' || k)::uuid,"
                " CASE WHEN ((r * 2654435761 + k * 40503) %% 1000) < 150 THEN 1 - r %% 2 ELSE r %% 2 END,"
                " '{}'::jsonb, 2000, '{}'::jsonb, now()"
                " FROM ranked, generate_series(0, 2) k WHERE ((r * 2654435761) %% 10007) < %s * 10007",
                [project.id, first_user, n_users, f"p{p}", voted],
            )
            cur.execute(
                "UPDATE labeling_item i SET votes_count = c.n FROM (SELECT item_id, count(*) n FROM"
                " labeling_annotation a JOIN labeling_item it ON it.id = a.item_id WHERE it.project_id = %s"
                " GROUP BY item_id) c WHERE i.id = c.item_id",
                [project.id],
            )
            cur.execute("SELECT count(*) FROM labeling_annotation a JOIN labeling_item i ON i.id = a.item_id"
                        " WHERE i.project_id = %s", [project.id])  # fmt: skip
            votes = cur.fetchone()[0]
        projects.append(project.id)
    with connection.cursor() as cur:
        cur.execute("ANALYZE")
    return projects, votes


def run_one(project_id: int) -> dict:
    """In a fresh process (--run): one re-aggregation of the project with the code of the tree it runs in."""
    from labeling.services.quality import project_reaggregate

    start = time.perf_counter()
    result = project_reaggregate(project_id=project_id)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"seconds": round(seconds, 2), "peak_rss_mb": round(peak, 1), "rows_written": result.items_written}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--voted", type=float, default=0.2)
    parser.add_argument("--users", type=int, default=500)
    parser.add_argument("--old-tree", type=Path, default=None)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--run", type=int, default=None, help=argparse.SUPPRESS)  # internal: one run
    parser.add_argument("--tree", type=Path, default=ROOT, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run is not None:
        _setup(args.tree)
        if os.environ.get("REAGG_PROFILE"):
            import cProfile
            import pstats

            profile = cProfile.Profile()
            result = profile.runcall(run_one, args.run)
            pstats.Stats(profile, stream=sys.stderr).sort_stats("cumulative").print_stats(25)
            print(json.dumps(result))
            return
        print(json.dumps(run_one(args.run)))
        return
    _setup(ROOT)
    from django.conf import settings
    from django.db import connection

    if connection.vendor != "postgresql":
        print("bench/reaggregate.py needs PostgreSQL: set DATABASE_URL=postgres://...")
        return
    base = settings.DATABASES["default"]["NAME"]
    db_name = setup_db()
    try:
        t0 = time.perf_counter()
        projects, votes = seed(args.items, args.voted, args.users)
        print(f"seeded 2 x {args.items} items, {votes} votes each in {time.perf_counter() - t0:.1f} s", flush=True)
        db = settings.DATABASES["default"]
        url = f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db_name}"
        env = {**os.environ, "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "annotate.settings.test"}
        trees = {"new": (ROOT, projects[0])}
        if args.old_tree:
            trees["old"] = (args.old_tree.resolve(), projects[1])
        out: dict = {"items": args.items, "votes": votes}
        for _round in range(2):
            for name, (tree, project_id) in trees.items():
                cmd = [sys.executable, str(Path(__file__).resolve()), "--run", str(project_id), "--tree", str(tree)]
                done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
                line = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""
                result = json.loads(line) if line.startswith("{") else {"error": done.stderr[-1500:]}
                if os.environ.get("REAGG_PROFILE"):
                    print(done.stderr[-6000:], file=sys.stderr)
                out.setdefault(name, []).append(result)
                print(name, f"run {_round + 1}:", result, flush=True)
        if args.json:
            print(json.dumps(out))
    finally:
        connection.creation.destroy_test_db(base, verbosity=0)


if __name__ == "__main__":
    main()
