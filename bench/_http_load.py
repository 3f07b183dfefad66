"""Shared pieces of the HTTP load/fault drivers: a gunicorn subprocess, volunteers that lease and answer
over HTTP with token auth (retrying a timed-out submission with the *same* submission ids, as the labeling
UI does), and the integrity report (lost / duplicated / over-assigned) read back from PostgreSQL.

Used by `bench/load_faults.py` and `tests/faults/`. The seeding, `free_port`, `pct` and `warm_up` come from
`bench/assign.py`; the volunteer loop differs from its one: it stops at a target number of accepted
answers, forces client timeouts and retries, and records every accepted submission id.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
GRID = 16
RETRYABLE = {502, 503, 504}


def start_gunicorn(
    *, database_url: str, port: int, workers: int = 2, threads: int = 8, env_extra: dict[str, str] | None = None
) -> subprocess.Popen:
    """gunicorn on 127.0.0.1:port in its own process group (stop it with `stop_process`)."""
    env = {**os.environ, "DATABASE_URL": database_url, "DJANGO_SETTINGS_MODULE": "annotate.settings.test",
           "DB_CONN_MAX_AGE": "60", **(env_extra or {})}  # fmt: skip
    cmd = [str(Path(sys.executable).parent / "gunicorn"), "annotate.wsgi:application", "--bind", f"127.0.0.1:{port}",
           "--workers", str(workers), "--threads", str(threads), "--timeout", "120",
           "--log-level", "warning"]  # fmt: skip
    return subprocess.Popen(cmd, env=env, cwd=ROOT, start_new_session=True)


def stop_process(proc: subprocess.Popen | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


@dataclass
class LoadResult:
    lat: dict[str, list[float]] = field(default_factory=lambda: {"next": [], "submit": []})
    grants: list[tuple[int, int]] = field(default_factory=list)  # (volunteer index, item id), one per lease given
    accepted: Counter = field(default_factory=Counter)  # submission id -> 2xx "ok" results seen for it
    created: int = 0  # ok results with created=true (first stored by that request)
    sent: set[str] = field(default_factory=set)  # every submission id ever sent
    forced_timeouts: int = 0
    retries: int = 0
    refused: Counter = field(default_factory=Counter)  # answers refused with a 4xx result, by code
    failures: Counter = field(default_factory=Counter)  # transport errors, 5xx, unexpected statuses
    tokens: list[str] = field(default_factory=list)  # volunteer index -> API token
    wall: float = 0.0


def run_volunteers(
    *,
    base: str,
    slug: str,
    tokens: list[str],
    target_answers: int,
    seconds: float,
    timeout_every: int = 7,
    forced_timeout_s: float = 0.005,
    max_rounds: int = 10_000,
) -> LoadResult:
    """Each token is one volunteer thread: GET next (a 16-item verify grid), POST its 16 answers in one batch.

    Every `timeout_every`-th submit of a volunteer is first sent with a read timeout of `forced_timeout_s`
    (the server keeps working on it, the client never sees the answer), then re-sent with the same
    submission ids, as a client with a flaky connection does. 5xx and transport errors are retried the
    same way (at most 5 attempts). Threads stop at `target_answers` accepted answers overall, after
    `seconds`, after `max_rounds`, or when the project has no more work for them.
    """
    res = LoadResult(tokens=list(tokens))
    lock = threading.Lock()
    end = time.monotonic() + seconds

    def submit(session: requests.Session, url: str, body: dict, force: bool) -> requests.Response | None:
        for attempt in range(5):
            timeout = (10, forced_timeout_s) if force and attempt == 0 else (10, 120)
            t0 = time.perf_counter()
            try:
                response = session.post(url, json=body, timeout=timeout)
            except requests.Timeout:
                with lock:
                    res.retries += 1
                    if force and attempt == 0:
                        res.forced_timeouts += 1
                    else:
                        res.failures["client timeout"] += 1
                continue
            except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError):
                # A web worker killed mid-response breaks the connection or the body; the same submission id
                # makes the retry safe whether or not the answer was stored.
                with lock:
                    res.retries += 1
                    res.failures["connection error"] += 1
                time.sleep(0.2)
                continue
            if response.status_code in RETRYABLE:
                with lock:
                    res.retries += 1
                    res.failures[f"submit {response.status_code}"] += 1
                time.sleep(0.2)
                continue
            with lock:
                res.lat["submit"].append(time.perf_counter() - t0)
            return response
        return None

    def volunteer(index: int, token: str) -> None:
        rng = random.Random(index)
        session = requests.Session()
        session.headers["Authorization"] = f"Token {token}"
        empty = 0
        for rnd in range(max_rounds):
            with lock:
                done = sum(1 for c in res.accepted.values() if c) >= target_answers
            if done or time.monotonic() > end:
                return
            t0 = time.perf_counter()
            try:
                nxt = session.get(f"{base}/api/projects/{slug}/next", params={"n": GRID}, timeout=(10, 120))
            except requests.RequestException as exc:
                with lock:
                    res.failures[f"next {type(exc).__name__}"] += 1
                continue
            if nxt.status_code != 200:
                with lock:
                    res.failures[f"next {nxt.status_code}"] += 1
                continue
            items = nxt.json()["items"]
            with lock:
                res.lat["next"].append(time.perf_counter() - t0)
                res.grants.extend((index, i["id"]) for i in items)
            if not items:
                empty += 1
                if empty >= 3:
                    return
                time.sleep(0.5)
                continue
            empty = 0
            # An honest crowd (right 95 % of the time on a truth fixed by the item id): coin flips are a random
            # clicker, whom the quality rules block (a 403 on next), which is not what this load measures.
            answers = [{"item_id": i["id"], "submission_id": str(uuid.uuid4()),
                        "answer": {"label": i["id"] % 2 if rng.random() < 0.95 else 1 - i["id"] % 2},
                        "time_spent_ms": 1000} for i in items]  # fmt: skip
            with lock:
                res.sent.update(a["submission_id"] for a in answers)
            force = timeout_every > 0 and (rnd + index) % timeout_every == 0
            sub = submit(session, f"{base}/api/projects/{slug}/answers", {"answers": answers}, force)
            with lock:
                if sub is None:
                    res.failures["submit gave up after 5 attempts"] += len(answers)
                    continue
                results = sub.json().get("results", []) if sub.status_code < 500 else []
                for r in results:
                    if r["ok"] and 200 <= sub.status_code < 300:
                        res.accepted[r["submission_id"]] += 1
                        res.created += bool(r.get("created"))
                    else:
                        res.refused[r.get("code")] += 1
                if not results:
                    res.failures[f"submit {sub.status_code}"] += len(answers)

    threads = [threading.Thread(target=volunteer, args=(i, t), daemon=True) for i, t in enumerate(tokens)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=seconds + 300)
    res.wall = time.perf_counter() - started
    return res


def integrity_report(res: LoadResult, *, project_slug: str) -> dict[str, int]:
    """Read the database back and compare it with what the clients were told. Every number must be 0
    except `stored` and `accepted` (which must be equal)."""
    from django.db import connection

    # Votes of annotators the quality engine blocked are kept but not counted (labeling/services/quality.md),
    # so "answers needed" is checked on the counted votes, and their item may get a replacement vote.
    blocked_sql = (
        "SELECT s.user_id FROM labeling_annotatorscore s JOIN labeling_project p ON p.id = s.project_id"
        " WHERE p.slug = %s AND s.status = 'blocked'"
    )
    with connection.cursor() as cur:
        cur.execute(blocked_sql, [project_slug])
        blocked = {row[0] for row in cur.fetchall()}
        cur.execute(
            "SELECT a.submission_id::text, a.user_id, a.item_id FROM labeling_annotation a"
            " JOIN labeling_item i ON i.id = a.item_id JOIN labeling_project p ON p.id = i.project_id"
            " WHERE p.slug = %s",
            [project_slug],
        )
        rows = cur.fetchall()
        cur.execute("SELECT i.id, i.needed_votes, i.votes_count FROM labeling_item i"
                    " JOIN labeling_project p ON p.id = i.project_id WHERE p.slug = %s AND NOT i.is_gold",
                    [project_slug])  # fmt: skip
        items = {item: (needed, votes) for item, needed, votes in cur.fetchall()}
    counted = Counter(item for _, user, item in rows if user not in blocked and item in items)
    answered = Counter(item for _, _, item in rows)
    stored = Counter(sid for sid, _, _ in rows)
    accepted = set(res.accepted)
    leases = Counter(res.grants)
    with connection.cursor() as cur:
        cur.execute("SELECT key, user_id FROM authtoken_token WHERE key = ANY(%s)", [res.tokens])
        by_token = dict(cur.fetchall())
    users = {i: by_token.get(t) for i, t in enumerate(res.tokens)}
    leased_users = Counter(item for (v, item) in leases if item in items and users.get(v) not in blocked)
    return {
        "accepted": len(accepted),
        "stored": len(stored),
        "lost": len(accepted - set(stored)),  # told "ok", not in the database
        "stored_unacknowledged": len(set(stored) - accepted),  # in the database, client never told ok
        "stored_never_sent": len(set(stored) - res.sent),
        "duplicated_submission": sum(c - 1 for c in stored.values() if c > 1),
        "same_user_item_twice": len(rows) - len({(u, i) for _, u, i in rows}),
        "items_over_answered": sum(1 for i, (need, votes) in items.items() if max(counted[i], votes) > need),
        # votes_count drops a blocked annotator's votes when their items are re-decided (asynchronously, by
        # the re-aggregation task); until then it may still include them. Outside that range it is wrong.
        "votes_count_mismatch": sum(1 for i, (_, votes) in items.items() if not counted[i] <= votes <= answered[i]),
        "same_lease_twice": sum(c - 1 for c in leases.values() if c > 1),
        "items_leased_beyond_need": sum(1 for item, c in leased_users.items() if c > items[item][0]),
        "blocked_annotators": len(blocked),  # informational: the quality engine's decision, not a fault
    }


MUST_BE_ZERO = (
    "lost", "stored_unacknowledged", "stored_never_sent", "duplicated_submission", "same_user_item_twice",
    "items_over_answered", "votes_count_mismatch", "same_lease_twice", "items_leased_beyond_need",
)  # fmt: skip
