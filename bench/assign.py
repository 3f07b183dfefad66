"""Benchmark of the assignment engine over HTTP: gunicorn + PostgreSQL, N concurrent simulated volunteers.

    DATABASE_URL=postgres://... .venv/bin/python bench/assign.py [--items 100000] [--volunteers 32] [--seconds 60]
        [--json]

Creates a throw-away database `<db>_assignbench` (tables from the models, no migrations), seeds a verify
project with --items items (10 categories, 3 votes each, 5 % gold) by SQL, starts gunicorn on 127.0.0.1,
then each volunteer thread loops: GET /api/me/ (the baseline: a trivial authenticated endpoint, one indexed
query), GET next (a 16-item grid), POST the 16 answers in one batch; token auth. Loops are bounded by
--seconds and --max-rounds; the server and the database are removed at the end.
Reports throughput and p50/p99 latency of next and submit as ratios to the baseline measured in the same run
(target p99 ratio <= 3), and double assignments (target 0): a (user, item) lease granted twice, an item
granted to more users than it needs, or an item with more answers than it needs.
Before the load, a --baseline-seconds phase has every volunteer call only /api/me/ (baseline_rps: what the
server answers when the work is trivial, to tell a slow machine from a slow code path on a shared box). After
it, one more volunteer's round runs in-process to count the SQL statements per answer (queries_per_answer:
next + submit of a 16-grid, view and authentication included, divided by 16).
With --json the last stdout line is {"items", "answers_per_s", "baseline_rps", "next_p50_ratio",
"next_p99_ratio", "submit_p50_ratio", "submit_p99_ratio", "queries_per_answer", "double_assignments"}
(ratios to /api/me/ in the same run; double_assignments is the sum of the three integrity counts).
--items 1000000 seeds in a few minutes (set-based SQL).
A benchmark reports; its exit status is 0 whatever the numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "annotate.settings.test")

import django  # noqa: E402
import requests  # noqa: E402

VOTES = 3
GRID = 16


def setup_db() -> str:
    from django.conf import settings

    settings.MIGRATION_MODULES = {app.split(".")[-1]: None for app in settings.INSTALLED_APPS}
    settings.DATABASES["default"]["TEST"]["NAME"] = settings.DATABASES["default"]["NAME"] + "_assignbench"
    from django.db import connection
    from django.test.utils import setup_test_environment

    setup_test_environment()
    return connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)


def truth(item_id: int) -> int:
    """The bench's right answer for an item: the seed's gold rule (every 20th id, label 1), else a fixed pattern.
    Volunteers answer it 90 % of the time: a coin-flipping volunteer is a spammer that the live quality rules
    block after a few gold answers (403 from then on), and the load would measure refusals."""
    return 1 if item_id % 20 == 0 else (item_id // 7) % 2


def honest(item_id: int, rng: random.Random) -> int:
    right = truth(item_id)
    return right if rng.random() < 0.9 else 1 - right


def seed(n_items: int, n_volunteers: int) -> tuple[str, list[str]]:
    from django.contrib.auth import get_user_model
    from django.db import connection
    from rest_framework.authtoken.models import Token

    from annotate.roles import Role, role_assign
    from labeling.services.projects import project_create

    project = project_create(
        slug="bench", task_type="verify", min_votes=VOTES, max_votes=VOTES, gold_rate=0.05,
        categories=[{"name": f"class{i}", "definition": f"Class number {i}."} for i in range(10)],
    )  # fmt: skip
    cats = list(project.categories.order_by("id").values_list("id", flat=True))
    with connection.cursor() as cur:
        cur.execute(
            "INSERT INTO labeling_image (sha256, file, thumbnail, width, height, format, mode, size_bytes, created_at) "
            "SELECT md5(g::text) || md5((g + 7)::text), 'images/bench/' || g || '.jpg', 'thumbs/bench/' || g || '.jpg',"
            " 64, 48, 'JPEG', 'RGB', 1000, now() FROM generate_series(1, %s) g",
            [n_items],
        )
        cur.execute(
            "INSERT INTO labeling_item (project_id, image_id, category_id, status, votes_count, needed_votes, priority,"
            " is_gold, gold_label, review_reason, created_at, updated_at) "
            "SELECT %s, id, (%s::bigint[])[1 + id %% 10], 'open', 0, %s, 0, id %% 20 = 0,"
            " CASE WHEN id %% 20 = 0 THEN 1 END, '', now(), now() FROM labeling_image",
            [project.id, cats, VOTES],
        )
        cur.execute("ANALYZE")
    tokens = []
    for i in range(n_volunteers):
        user = get_user_model().objects.create_user(username=f"bench{i}", password=None)
        role_assign(user=user, role=Role.VOLUNTEER)
        tokens.append(Token.objects.create(user=user).key)
    return project.slug, tokens


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(db_name: str, port: int, workers: int, threads: int) -> subprocess.Popen:
    from django.conf import settings

    db = settings.DATABASES["default"]
    url = f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db_name}"
    env = {**os.environ, "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "annotate.settings.test",
           "DB_CONN_MAX_AGE": "60"}  # fmt: skip
    cmd = [str(Path(sys.executable).parent / "gunicorn"), "annotate.wsgi:application", "--bind", f"127.0.0.1:{port}",
           "--workers", str(workers), "--threads", str(threads), "--timeout", "120",
           "--log-level", "warning"]  # fmt: skip
    return subprocess.Popen(cmd, env=env, cwd=ROOT, start_new_session=True)


def warm_up(base: str, token: str, workers: int) -> None:
    deadline = time.monotonic() + 300
    ok = 0
    while ok < workers * 4:
        if time.monotonic() > deadline:
            raise SystemExit("the server did not come up in 300 s")
        try:
            r = requests.get(f"{base}/api/me/", headers={"Authorization": f"Token {token}"}, timeout=120)
            ok += r.status_code == 200
        except requests.RequestException:
            time.sleep(0.5)


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def run_load(base: str, slug: str, tokens: list[str], seconds: float, max_rounds: int) -> dict:
    lat: dict[str, list[float]] = {"me": [], "next": [], "submit": []}
    grants: list[tuple[int, int]] = []
    failures = Counter()
    lock = threading.Lock()
    end = time.monotonic() + seconds

    def volunteer(index: int, token: str) -> None:
        rng = random.Random(index)
        session = requests.Session()
        session.headers["Authorization"] = f"Token {token}"
        for _ in range(max_rounds):
            if time.monotonic() > end:
                return
            t0 = time.perf_counter()
            me = session.get(f"{base}/api/me/", timeout=120)
            t1 = time.perf_counter()
            nxt = session.get(f"{base}/api/projects/{slug}/next", params={"n": GRID}, timeout=120)
            t2 = time.perf_counter()
            if me.status_code != 200 or nxt.status_code != 200:
                failures[f"me {me.status_code} / next {nxt.status_code}"] += 1
                continue
            items = nxt.json()["items"]
            if not items:
                return
            answers = [{"item_id": i["id"], "submission_id": str(uuid.uuid4()),
                        "answer": {"label": honest(i["id"], rng)}, "time_spent_ms": 2500} for i in items]  # fmt: skip
            t3 = time.perf_counter()
            sub = session.post(f"{base}/api/projects/{slug}/answers", json={"answers": answers}, timeout=120)
            t4 = time.perf_counter()
            refused = [r for r in sub.json().get("results", []) if not r["ok"]] if sub.status_code < 500 else answers
            with lock:
                lat["me"].append(t1 - t0)
                lat["next"].append(t2 - t1)
                lat["submit"].append(t4 - t3)
                grants.extend((index, i["id"]) for i in items)
                if refused:
                    failures[f"answers refused ({sub.status_code})"] += len(refused)

    threads = [threading.Thread(target=volunteer, args=(i, t)) for i, t in enumerate(tokens)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return {"lat": lat, "grants": grants, "failures": failures, "wall": time.perf_counter() - started}


def baseline_phase(base: str, tokens: list[str], seconds: float) -> float:
    """Requests per second on /api/me/ alone, every volunteer looping."""
    if seconds <= 0:
        return float("nan")
    done = Counter()
    end = time.monotonic() + seconds

    def loop(index: int, token: str) -> None:
        session = requests.Session()
        session.headers["Authorization"] = f"Token {token}"
        while time.monotonic() < end:
            done[index] += session.get(f"{base}/api/me/", timeout=120).status_code == 200

    threads = [threading.Thread(target=loop, args=(i, t)) for i, t in enumerate(tokens)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(done.values()) / (time.perf_counter() - started)


def queries_per_answer(slug: str) -> float:
    """One fresh volunteer's next + submit of a grid, in-process through the API views, statements counted."""
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from rest_framework.authtoken.models import Token
    from rest_framework.test import APIClient

    from annotate.roles import Role, role_assign

    user = get_user_model().objects.create_user(username="bench-counted", password=None)
    role_assign(user=user, role=Role.VOLUNTEER)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")

    def one_round() -> int:
        items = client.get(f"/api/projects/{slug}/next", {"n": GRID}).json()["items"]
        answers = [{"item_id": i["id"], "submission_id": str(uuid.uuid4()), "answer": {"label": truth(i["id"])},
                    "time_spent_ms": 2500} for i in items]  # fmt: skip
        client.post(f"/api/projects/{slug}/answers", {"answers": answers}, format="json")
        return len(answers)

    one_round()  # the first grid may be qualification gold and creates the score row: not counted
    with CaptureQueriesContext(connection) as ctx:
        answered = one_round()
    return len(ctx) / max(answered, 1)


def double_assignments(grants: list[tuple[int, int]]) -> dict:
    from django.db import connection

    pairs = Counter(grants)
    with connection.cursor() as cur:
        cur.execute("SELECT id FROM labeling_item WHERE is_gold")
        gold = {row[0] for row in cur.fetchall()}  # gold is shown to every volunteer once, by design
        per_item = Counter(item for _, item in pairs if item not in gold)
        cur.execute(
            "SELECT count(*) FROM (SELECT i.id FROM labeling_item i JOIN labeling_annotation a ON a.item_id = i.id"
            " WHERE NOT i.is_gold GROUP BY i.id, i.needed_votes HAVING count(a.id) > i.needed_votes) t"
        )
        over_answered = cur.fetchone()[0]
        cur.execute("SELECT count(*) FROM labeling_item WHERE NOT is_gold AND votes_count > needed_votes")
        over_counted = cur.fetchone()[0]
    return {
        "same_lease_twice": sum(c - 1 for c in pairs.values() if c > 1),
        "items_leased_beyond_need": sum(1 for c in per_item.values() if c > VOTES),
        "items_over_answered": over_answered + over_counted,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--volunteers", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--max-rounds", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--baseline-seconds", type=float, default=5)
    parser.add_argument("--json", action="store_true", help="last stdout line: the summary as JSON")
    args = parser.parse_args()
    django.setup()
    from django.db import connection

    if connection.vendor != "postgresql":
        print("bench/assign.py needs PostgreSQL: set DATABASE_URL=postgres://...")
        return
    t0 = time.perf_counter()
    db_name = setup_db()
    server = None
    try:
        slug, tokens = seed(args.items, args.volunteers)
        print(f"seeded {args.items} items, {args.volunteers} volunteers in {time.perf_counter() - t0:.1f} s "
              f"(database {db_name}, cores {os.cpu_count()})")  # fmt: skip
        port = free_port()
        server = start_server(db_name, port, args.workers, args.threads)
        base = f"http://127.0.0.1:{port}"
        warm_up(base, tokens[0], args.workers)
        baseline_rps = baseline_phase(base, tokens, args.baseline_seconds)
        result = run_load(base, slug, tokens, args.seconds, args.max_rounds)
        summary = report(result, args, baseline_rps)
        summary["queries_per_answer"] = round(queries_per_answer(slug), 2)
        print(f"queries per answer (next + submit of a {GRID}-grid, in-process): {summary['queries_per_answer']}")
        if args.json:
            keys = ["items", "answers_per_s", "baseline_rps", "next_p50_ratio", "next_p99_ratio", "submit_p50_ratio",
                    "submit_p99_ratio", "queries_per_answer", "double_assignments"]  # fmt: skip
            print(json.dumps({key: summary[key] for key in keys}))
    finally:
        if server is not None and server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
        connection.creation.destroy_test_db(db_name, verbosity=0)


def report(result: dict, args: argparse.Namespace, baseline_rps: float) -> dict:
    lat, wall = result["lat"], result["wall"]
    rounds = len(lat["next"])
    answers = rounds * GRID
    base50, base99 = pct(lat["me"], 0.5), pct(lat["me"], 0.99)
    print(f"gunicorn {args.workers} workers x {args.threads} threads, {args.volunteers} volunteers, {wall:.1f} s, "
          f"{rounds} next+submit rounds, {answers} answers")  # fmt: skip
    print(f"throughput: {answers / wall:.1f} answers/s, {rounds / wall:.2f} grids/s, "
          f"{3 * rounds / wall:.1f} requests/s")  # fmt: skip
    print(f"baseline /api/me/: p50 {base50 * 1000:.1f} ms, p99 {base99 * 1000:.1f} ms")
    summary = {"items": args.items, "answers_per_s": round(answers / wall, 1), "baseline_rps": round(baseline_rps, 1)}
    print(f"baseline phase: {baseline_rps:.1f} requests/s on /api/me/ alone")
    for name in ("next", "submit"):
        p50, p99 = pct(lat[name], 0.5), pct(lat[name], 0.99)
        summary[f"{name}_p50_ratio"] = round(p50 / base50, 2)
        summary[f"{name}_p99_ratio"] = round(p99 / base99, 2)
        mean = statistics.fmean(lat[name]) * 1000 if lat[name] else float("nan")
        print(f"{name:>6}: p50 {p50 * 1000:.1f} ms ({p50 / base50:.2f}x baseline), "
              f"p99 {p99 * 1000:.1f} ms ({p99 / base99:.2f}x baseline), mean {mean:.1f} ms")  # fmt: skip
    doubles = double_assignments(result["grants"])
    print(f"double assignments: {doubles}")
    print(f"failures: {dict(result['failures']) or 0}")
    summary["double_assignments"] = sum(doubles.values())
    return summary


if __name__ == "__main__":
    main()
