"""What a thumbnail request costs the web tier, per serving mode, as a ratio to the trivial `/api/me/` (same run).

    DATABASE_URL=postgres://... .venv/bin/python bench/media.py [--clients 64] [--seconds 15] [--images 200]
        [--modes stream,accel,redirect] [--json]

Creates a throw-away database `<db>_mediabench` (tables from the models), a public project with --images
images whose 256 px JPEG thumbnails (~10 KB, Pillow) are written to a local MEDIA_ROOT and to a bucket of a real
S3 API on 127.0.0.1 (moto's server), and --clients volunteers with a session each (the media view is for pages:
session auth; `/api/me/` is asked with the same cookie, so both pay the same authentication). For each mode a
gunicorn (--workers x --threads) is started and every client thread loops: GET /api/me/, GET a random
/media/thumb/<sha256>, without following redirects. Reported: p50/p99 of each, and thumbnail / me ratios.

- stream: Django reads the file and sends the bytes (the fallback; the client reads the whole body).
- accel: Django answers with X-Accel-Redirect; nginx would send the bytes. nginx is not on this machine, so
  this measures the Django side only -- which is the web tier's whole cost in that mode.
- redirect: Django answers with a 302 to a presigned S3 URL; the bytes come from the bucket. After the load a
  sample of the Location URLs is fetched from moto and decoded, to show the bytes really come from there.

Goal (issue 16): with accel or redirect, thumbnail p50 / me p50 <= 1.2. With --json the last stdout line is
{"clients", "<mode>_p50_ratio", "<mode>_p99_ratio", "<mode>_rps", ...}. A benchmark reports; exit status 0.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import random
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "annotate.settings.test")

import django  # noqa: E402
import requests  # noqa: E402

from bench._http_load import stop_process  # noqa: E402
from bench.assign import free_port, pct  # noqa: E402


def setup_db() -> str:
    from django.conf import settings
    from django.db import connection
    from django.test.utils import setup_test_environment

    settings.MIGRATION_MODULES = {app.split(".")[-1]: None for app in settings.INSTALLED_APPS}
    settings.DATABASES["default"]["TEST"]["NAME"] = settings.DATABASES["default"]["NAME"] + "_mediabench"
    setup_test_environment()
    return connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)


def thumbnails(n: int) -> list[tuple[str, bytes]]:
    """n distinct 256x192 JPEGs (q85, ~10 KB) -> [(sha256, bytes)]."""
    from PIL import Image, ImageDraw

    rng = random.Random(16)
    out = []
    for _ in range(n):
        img = Image.new("RGB", (256, 192), tuple(rng.randrange(256) for _ in range(3)))
        draw = ImageDraw.Draw(img)
        for _ in range(12):
            x, y = rng.randrange(256), rng.randrange(192)
            draw.ellipse([x, y, x + rng.randrange(8, 80), y + rng.randrange(8, 60)],
                         fill=tuple(rng.randrange(256) for _ in range(3)))  # fmt: skip
        buf = io.BytesIO()
        img.save(buf, "JPEG", quality=85)
        data = buf.getvalue()
        out.append((hashlib.sha256(data).hexdigest(), data))
    return out


def seed(files: list[tuple[str, bytes]], clients: int, media_root: Path, s3, bucket: str) -> tuple[list[str], list]:
    """Images (rows + files on disk + objects in the bucket), a public project holding them, and one session
    per client. Returns (shas, session keys)."""
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
    from django.contrib.sessions.backends.db import SessionStore

    from annotate.roles import Role, role_assign
    from labeling.models import Image, ImageSource
    from labeling.services.ingestion.storage import thumbnail_name
    from labeling.services.projects import project_create

    project = project_create(slug="media-bench", task_type="verify", visibility="public",
                             categories=[{"name": "thing"}])  # fmt: skip
    client = s3.client()
    for sha, data in files:
        name = thumbnail_name(sha)
        (media_root / name).parent.mkdir(parents=True, exist_ok=True)
        (media_root / name).write_bytes(data)
        client.put_object(Bucket=bucket, Key=name, Body=data)
    rows = [Image(sha256=sha, file=thumbnail_name(sha), thumbnail=thumbnail_name(sha), width=256, height=192,
                  format="JPEG", mode="RGB", size_bytes=len(data)) for sha, data in files]  # fmt: skip
    images = Image.objects.bulk_create(rows)
    ImageSource.objects.bulk_create(ImageSource(project=project, image=i, source_uri=f"{i.sha256}.jpg") for i in images)
    sessions = []
    for i in range(clients):
        user = get_user_model().objects.create_user(username=f"media{i}", password=None)
        role_assign(user=user, role=Role.VOLUNTEER)
        store = SessionStore()
        store[SESSION_KEY], store[HASH_SESSION_KEY] = str(user.pk), user.get_session_auth_hash()
        store[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
        store.create()
        sessions.append(store.session_key)
    return [sha for sha, _ in files], sessions


def start_server(db_name: str, port: int, workers: int, threads: int, env_extra: dict[str, str]):
    import subprocess

    from django.conf import settings

    db = settings.DATABASES["default"]
    url = f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db_name}"
    # the sessions were signed here: the server must share the key
    env = {**os.environ, "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "annotate.settings.test",
           "DB_CONN_MAX_AGE": "60", "SECRET_KEY": settings.SECRET_KEY, **env_extra}  # fmt: skip
    cmd = [str(Path(sys.executable).parent / "gunicorn"), "annotate.wsgi:application", "--bind", f"127.0.0.1:{port}",
           "--workers", str(workers), "--threads", str(threads), "--timeout", "120",
           "--log-level", "warning"]  # fmt: skip
    return subprocess.Popen(cmd, env=env, cwd=ROOT, start_new_session=True)


def warm_up(base: str, session_key: str, sha: str) -> None:
    cookies = {"sessionid": session_key}
    deadline = time.monotonic() + 300
    ok = 0
    while ok < 20:
        if time.monotonic() > deadline:
            raise SystemExit("the server did not come up in 300 s")
        try:
            me = requests.get(f"{base}/api/me/", cookies=cookies, timeout=120)
            thumb = requests.get(f"{base}/media/thumb/{sha}", cookies=cookies, timeout=120, allow_redirects=False)
            if me.status_code != 200 or thumb.status_code not in (200, 302):
                raise SystemExit(f"warm-up: /api/me/ {me.status_code}, thumbnail {thumb.status_code}")
            ok += 1
        except requests.ConnectionError:
            time.sleep(0.5)


def load(base: str, sessions: list[str], shas: list[str], seconds: float) -> dict:
    lat: dict[str, list[float]] = {"me": [], "thumb": []}
    locations: list[str] = []
    errors: list[str] = []
    lock = threading.Lock()
    end = time.monotonic() + seconds

    def client(index: int, key: str) -> None:
        rng = random.Random(index)
        session = requests.Session()
        session.cookies.set("sessionid", key)
        mine: dict[str, list[float]] = {"me": [], "thumb": []}
        while time.monotonic() < end:
            t0 = time.perf_counter()
            me = session.get(f"{base}/api/me/", timeout=120)
            t1 = time.perf_counter()
            thumb = session.get(f"{base}/media/thumb/{rng.choice(shas)}", timeout=120, allow_redirects=False)
            _ = thumb.content  # stream: the bytes are part of the answer
            t2 = time.perf_counter()
            if me.status_code != 200 or thumb.status_code not in (200, 302):
                with lock:
                    errors.append(f"me {me.status_code} thumb {thumb.status_code}")
                continue
            mine["me"].append(t1 - t0)
            mine["thumb"].append(t2 - t1)
            if thumb.status_code == 302 and len(locations) < 20:
                with lock:
                    locations.append(thumb.headers["Location"])
        with lock:
            for k in lat:
                lat[k].extend(mine[k])

    threads = [threading.Thread(target=client, args=(i, k), daemon=True) for i, k in enumerate(sessions)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=seconds + 300)
    wall = time.perf_counter() - started
    return {"lat": lat, "locations": locations, "errors": errors, "wall": wall}


def bytes_from_storage(locations: list[str]) -> int:
    """Fetch the redirect targets and decode them: the bytes came from the bucket, not from Django."""
    from PIL import Image

    for url in locations:
        r = requests.get(url, timeout=30)
        assert r.status_code == 200 and r.headers["Content-Type"] == "image/jpeg", (r.status_code, r.text[:200])
        Image.open(io.BytesIO(r.content)).load()
    return len(locations)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--modes", default="stream,accel,redirect")
    parser.add_argument("--json", action="store_true", help="last stdout line: the summary as JSON")
    args = parser.parse_args()
    django.setup()
    from django.db import connection

    from tests.helpers.s3 import start_moto

    if connection.vendor != "postgresql":
        print("bench/media.py needs PostgreSQL: set DATABASE_URL=postgres://...")
        return
    tmp = Path(tempfile.mkdtemp(prefix="mediabench-"))
    s3 = start_moto(tmp)
    bucket = s3.create_bucket("mediabench")
    db_name = setup_db()
    summary: dict = {"clients": args.clients, "workers": args.workers, "threads": args.threads, "cores": os.cpu_count()}
    try:
        shas, sessions = seed(thumbnails(args.images), args.clients, tmp / "media", s3, bucket)
        for mode in args.modes.split(","):
            env = {"ANNOTATE_MEDIA_SERVE": mode, "MEDIA_ROOT": str(tmp / "media"), "ANNOTATE_VAR_DIR": str(tmp / "var")}
            if mode == "redirect":
                env.update(s3.env(bucket))
            port = free_port()
            server = start_server(db_name, port, args.workers, args.threads, env)
            try:
                base = f"http://127.0.0.1:{port}"
                warm_up(base, sessions[0], shas[0])
                res = load(base, sessions, shas, args.seconds)
            finally:
                stop_process(server)
            me, thumb = res["lat"]["me"], res["lat"]["thumb"]
            row = {"me_p50_ms": pct(me, 0.5) * 1e3, "me_p99_ms": pct(me, 0.99) * 1e3,
                   "thumb_p50_ms": pct(thumb, 0.5) * 1e3, "thumb_p99_ms": pct(thumb, 0.99) * 1e3}  # fmt: skip
            summary[f"{mode}_p50_ratio"] = round(row["thumb_p50_ms"] / row["me_p50_ms"], 3)
            summary[f"{mode}_p99_ratio"] = round(row["thumb_p99_ms"] / row["me_p99_ms"], 3)
            summary[f"{mode}_rps"] = round((len(me) + len(thumb)) / res["wall"], 1)
            summary[f"{mode}_errors"] = len(res["errors"])
            checked = bytes_from_storage(res["locations"]) if mode == "redirect" else 0
            print(f"{mode:9s} me p50 {row['me_p50_ms']:7.1f} ms p99 {row['me_p99_ms']:7.1f} ms | thumbnail p50 "
                  f"{row['thumb_p50_ms']:7.1f} ms p99 {row['thumb_p99_ms']:7.1f} ms | ratio p50 "
                  f"{summary[f'{mode}_p50_ratio']:.2f} p99 {summary[f'{mode}_p99_ratio']:.2f} | "
                  f"{summary[f'{mode}_rps']} req/s, {len(me)} pairs, {len(res['errors'])} errors"
                  + (f", {checked} redirects fetched from S3 and decoded" if checked else ""), flush=True)  # fmt: skip
        if args.json:
            print(json.dumps(summary))
    finally:
        connection.creation.destroy_test_db(db_name, verbosity=0)
        s3.stop()


if __name__ == "__main__":
    main()
