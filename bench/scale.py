"""An ImageNet-shaped project on one machine (issue 26): seed, re-aggregate, snapshot, export, label, look.

    [DATABASE_URL=postgres://...] .venv/bin/python bench/scale.py [--items 1000000] [--categories 1000]
        [--votes 5000000] [--volunteers 500] [--rounds 20] [--json]

Creates a throw-away database (`<db>_scalebench`, or `<db>_<--db-suffix>`; on SQLite a file under VAR_DIR; tables
from the models, no migrations) and seeds one `verify` project through the product's bulk paths: `project_create`
with --categories categories, one placeholder image row per item (like `replay_crowd`: never served as a file), its
ImageSource rows and `items_create_from_sources` (what ingestion runs). --volunteers simulated volunteers (accuracy
drawn in 0.65-0.95, 5 % spammers at 0.5) then cast --votes votes, inserted in bulk as an annotation import stores
them (one Annotation row each, `votes_count` set by one UPDATE): 5M answers through the HTTP path would take this
machine hours. 1 % of the items get no votes, so volunteers still have work.

Then it measures, in this process:
* full re-aggregation (`project_reaggregate`): wall time, peak RSS during the call (sampled every 20 ms), and
  the item rows it wrote;
* `dataset_version_create` of the finished items and a CSV export of that version (`dataset_export_run`);
* the volunteer hot path through Django's full stack (test Client, token auth, no network): per round a fresh
  volunteer asks `GET /api/me/` (the trivial endpoint), `GET next?n=16` and posts the 16 answers in one batch;
  p50/p99 of next and submit as ratios to /api/me/ in the same run, and answers/s of that one client;
* the owner's quality and annotators pages (median of 3).

With --json the last stdout line is {"items", "votes", "reaggregate_s", "reaggregate_peak_rss_mb",
"rows_written", "dataset_create_s", "export_s", "submit_p50_ratio", "submit_p99_ratio", "answers_per_s", ...}
(a few more keys: next ratios, page times, seeding time). A benchmark reports; it exits 0 whatever the numbers.
The database is dropped at the end (--keep keeps it). --reuse measures again on a kept database (same --db-suffix),
without seeding: the project is put back as the seed left it (all items open and undecided, no versions).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "annotate.settings.test")

import django  # noqa: E402
import numpy as np  # noqa: E402

GRID = 16
CHUNK = 10_000


def log(message: str) -> None:
    print(message, flush=True)


def setup_db(suffix: str = "scalebench") -> str:
    from django.conf import settings

    settings.MIGRATION_MODULES = {app.split(".")[-1]: None for app in settings.INSTALLED_APPS}
    db = settings.DATABASES["default"]
    if db["ENGINE"].endswith("sqlite3"):
        db["TEST"]["NAME"] = str(Path(settings.VAR_DIR) / f"{suffix}.sqlite3")
    else:
        db["TEST"]["NAME"] = f"{db['NAME']}_{suffix}"
    from django.db import connection
    from django.test.utils import setup_test_environment

    setup_test_environment()
    return connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)


def _votes_insert(rows: np.ndarray) -> None:
    """(item_id, user_id, label) rows as Annotation rows, stored as an annotation import stores them. PostgreSQL
    takes them by COPY (5M votes through bulk_create: most of an hour of this machine); SQLite by executemany."""
    from django.db import connection, transaction
    from django.utils import timezone

    now = connection.ops.adapt_datetimefield_value(timezone.now())
    columns = "item_id, user_id, submission_id, label, answer, time_spent_ms, client_info, created_at"
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            import io

            buf = io.StringIO()
            buf.writelines(
                f'{i}\t{u}\t{uuid.uuid4()}\t{label}\t{{"label": {label}}}\t0\t{{"imported": true}}\t{now}\n'
                for i, u, label in rows.tolist()
            )
            buf.seek(0)
            cursor.connection.cursor().copy_expert(f"COPY labeling_annotation ({columns}) FROM STDIN", buf)
        else:
            cursor.executemany(
                f"INSERT INTO labeling_annotation ({columns}) VALUES (%s, %s, %s, %s, %s, 0, %s, %s)",  # noqa: S608
                [(i, u, uuid.uuid4().hex, label, f'{{"label": {label}}}', '{"imported": true}', now)
                 for i, u, label in rows.tolist()],
            )  # fmt: skip


def seed(args: argparse.Namespace, rng: np.random.Generator) -> dict:
    from django.contrib.auth import get_user_model
    from django.db import connection, transaction

    from annotate.roles import Role, role_assign
    from labeling.models import Image, ImageSource, Item
    from labeling.services.items import items_create_from_sources
    from labeling.services.projects import project_create

    per_item = max(1, round(args.votes / max(1, int(args.items * 0.99))))
    owner = get_user_model().objects.create_user(username="scale-owner", password=None)
    role_assign(user=owner, role=Role.RESEARCHER)
    project = project_create(
        slug="scale", task_type="verify", min_votes=per_item, max_votes=per_item + 2, gold_rate=0.0,
        owner=owner, categories=[{"name": f"n{i:08d}", "definition": f"Synset {i}."} for i in range(args.categories)],
    )  # fmt: skip
    cats = np.array(sorted(project.categories.values_list("id", flat=True)), dtype=np.int64)
    t0 = time.perf_counter()
    for start in range(0, args.items, CHUNK):
        n = min(CHUNK, args.items - start)
        with transaction.atomic():
            placeholders = [
                Image(sha256=f"{start + i:064x}", file="", width=1, height=1, format="replay", mode="", size_bytes=0)
                for i in range(n)
            ]
            images = Image.objects.bulk_create(placeholders)
            sources = [
                ImageSource(project=project, image=img, source_uri=f"n/{img.pk}.jpg",
                            candidate_category_id=int(cats[(start + i) % len(cats)]))
                for i, img in enumerate(images)
            ]  # fmt: skip
            ImageSource.objects.bulk_create(sources)
    created = items_create_from_sources(project=project)
    log(f"seeded {created} items in {time.perf_counter() - t0:.1f} s")

    t1 = time.perf_counter()
    users = [get_user_model()(username=f"scale-v{i}") for i in range(args.volunteers)]
    for user in users:
        user.set_unusable_password()
    users = get_user_model().objects.bulk_create(users, batch_size=2000)
    user_ids = np.array([u.pk for u in users], dtype=np.int64)
    accuracy = rng.uniform(0.65, 0.95, len(users))
    accuracy[rng.random(len(users)) < 0.05] = 0.5

    item_ids = np.array(Item.objects.filter(project=project).order_by("id").values_list("id", flat=True))
    voted = item_ids[: max(1, int(len(item_ids) * 0.99))]
    truth = rng.random(len(voted)) < 0.5
    # votes per voted item: per_item, or one more for some, so that the total is --votes
    counts = np.full(len(voted), args.votes // len(voted), dtype=np.int64)
    counts[: args.votes - int(counts.sum())] += 1
    counts = np.minimum(counts, len(users))
    votes = 0
    for start in range(0, len(voted), CHUNK):
        chunk = slice(start, start + CHUNK)
        items, k = voted[chunk], counts[chunk]
        # k distinct volunteers per item: the k smallest of one uniform draw per (item, volunteer)
        kmax = int(k.max())
        draw = rng.random((len(items), len(users)))
        workers = np.argpartition(draw, kmax - 1, axis=1)[:, :kmax] if kmax < len(users) else np.argsort(draw)
        keep = np.arange(kmax)[None, :] < k[:, None]
        right = rng.random(workers.shape) < accuracy[workers]
        labels = (truth[chunk][:, None] == right).astype(np.int64)
        rows = np.column_stack([np.repeat(items, kmax), user_ids[workers].ravel(), labels.ravel()])[keep.ravel()]
        _votes_insert(rows)
        votes += len(rows)
        if start // CHUNK % 10 == 0:
            log(f"  {votes} votes ({time.perf_counter() - t1:.0f} s)")
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE labeling_item SET votes_count = (SELECT COUNT(*) FROM labeling_annotation a "
            "WHERE a.item_id = labeling_item.id) WHERE project_id = %s",
            [project.pk],
        )
        cursor.execute("ANALYZE")
    log(f"seeded {votes} votes in {time.perf_counter() - t1:.1f} s")
    truth_of = dict(zip(voted.tolist(), truth.tolist(), strict=True))
    return {"project": project, "owner": owner, "votes": votes, "seed_s": time.perf_counter() - t0, "truth": truth_of}


class PeakRss:
    """The process's peak resident set while the block runs (a thread samples it every 20 ms)."""

    def __enter__(self) -> PeakRss:
        import psutil

        self._proc = psutil.Process()
        self.peak = self._proc.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, self._proc.memory_info().rss)

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._proc.memory_info().rss)


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def hot_path(project, rounds: int, truth: dict[int, bool], seed: int = 0) -> dict:
    """Fresh volunteers as honest ones answer (right 90 % of the time, the seeded truth; an unvoted item's is a
    coin): an always-yes bench volunteer is a spammer, blocked by the live rules mid-batch, and would measure the
    (rare, deliberately synchronous) block path instead of the hot one."""
    from django.contrib.auth import get_user_model
    from django.test import Client
    from rest_framework.authtoken.models import Token

    from annotate.roles import Role, role_assign

    lat: dict[str, list[float]] = {"me": [], "next": [], "submit": []}
    answered = 0
    busy = 0.0
    rng = np.random.default_rng(seed)
    for r in range(rounds):
        user = get_user_model().objects.create_user(username=f"scale-hot{r}-{uuid.uuid4().hex[:6]}", password=None)
        role_assign(user=user, role=Role.VOLUNTEER)
        client = Client(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
        t0 = time.perf_counter()
        assert client.get("/api/me/").status_code == 200
        t1 = time.perf_counter()
        response = client.get(f"/api/projects/{project.slug}/next", {"n": GRID})
        t2 = time.perf_counter()
        items = response.json()["items"] if response.status_code == 200 else []
        if not items:
            log(f"  round {r}: next gave {response.status_code} and no items")
            continue
        labels = [int(truth.get(i["id"], rng.random() < 0.5) == (rng.random() < 0.9)) for i in items]
        answers = [{"item_id": i["id"], "submission_id": str(uuid.uuid4()), "answer": {"label": label},
                    "time_spent_ms": 2500} for i, label in zip(items, labels, strict=True)]  # fmt: skip
        t3 = time.perf_counter()
        response = client.post(f"/api/projects/{project.slug}/answers", {"answers": answers},
                               content_type="application/json")  # fmt: skip
        t4 = time.perf_counter()
        ok = sum(1 for res in response.json().get("results", []) if res.get("ok"))
        answered += ok
        busy += (t2 - t1) + (t4 - t3)
        lat["me"].append(t1 - t0)
        lat["next"].append(t2 - t1)
        lat["submit"].append(t4 - t3)
    me50, me99 = pct(lat["me"], 0.5), pct(lat["me"], 0.99)
    return {
        "me_p50_ms": round(me50 * 1000, 2),
        "next_p50_ratio": round(pct(lat["next"], 0.5) / me50, 2),
        "next_p99_ratio": round(pct(lat["next"], 0.99) / me99, 2),
        "submit_p50_ratio": round(pct(lat["submit"], 0.5) / me50, 2),
        "submit_p99_ratio": round(pct(lat["submit"], 0.99) / me99, 2),
        "answers_per_s": round(answered / busy, 1) if busy else 0.0,
    }


def page_times(project, owner) -> dict:
    """Median of 3 of every page and list API of the issue's table, as the role that opens it (`<key>_s`), and
    the largest response time among them (`slowest_page_s`, `slowest_page`)."""
    from django.contrib.auth import get_user_model
    from django.test import Client

    from annotate.roles import Role, role_assign
    from labeling.models import Item

    users = get_user_model()
    admin = users.objects.create_superuser(username=f"scale-admin-{uuid.uuid4().hex[:6]}", password=None)
    reviewer = users.objects.create_user(username=f"scale-rev-{uuid.uuid4().hex[:6]}", password=None)
    role_assign(user=reviewer, role=Role.REVIEWER)
    project.reviewers.add(reviewer)
    volunteer = users.objects.create_user(username=f"scale-vol-{uuid.uuid4().hex[:6]}", password=None)
    role_assign(user=volunteer, role=Role.VOLUNTEER)
    clients = {}
    for role, user in (("owner", owner), ("admin", admin), ("reviewer", reviewer), ("volunteer", volunteer)):
        clients[role] = Client()
        clients[role].force_login(user)
    slug = project.slug
    done = Item.objects.filter(project=project, status=Item.Status.DONE).order_by("id").values_list("id", flat=True)
    done_id = done.first() or 0
    last = max(1, -(-Item.objects.filter(project=project).count() // 96))  # the grid's last page of 96
    pages = (
        ("quality_page", "owner", f"/projects/{slug}/quality/"),
        ("quality_api", "owner", f"/api/projects/{slug}/quality/"),
        ("quality_page_reviewer", "reviewer", f"/projects/{slug}/quality/"),
        ("annotators_page", "owner", f"/projects/{slug}/annotators/"),
        ("admin_projects", "admin", "/admin/labeling/project/"),
        ("admin_items_search_id", "admin", f"/admin/labeling/item/?q={done_id}"),
        ("admin_items_search_user", "admin", "/admin/labeling/item/?q=scale-v7"),
        ("admin_items_by_confidence", "admin", "/admin/labeling/item/?o=7"),
        ("curation_grid_posterior", "owner", f"/projects/{slug}/items/?sort=posterior&size=96"),
        ("curation_grid_last_page", "owner", f"/projects/{slug}/items/?size=96&page={last}"),
        ("api_items_200", "owner", f"/api/projects/{slug}/items/?size=200"),
        ("item_page", "owner", f"/projects/{slug}/items/{done_id}/"),
        ("review_queue", "reviewer", f"/projects/{slug}/review/"),
        ("review_queue_api", "reviewer", f"/api/projects/{slug}/review/"),
        ("project_page", "owner", f"/projects/{slug}/"),
        ("volunteer_home", "volunteer", "/"),
        ("project_list", "owner", "/projects/"),
        ("volunteer_projects_api", "volunteer", "/api/projects/"),
    )
    out: dict = {}
    for key, role, url in pages:
        times = []
        for _ in range(3):
            t0 = time.perf_counter()
            status = clients[role].get(url).status_code
            times.append(time.perf_counter() - t0)
            if status != 200:
                log(f"  {url}: {status}")
        out[f"{key}_s"] = round(statistics.median(times), 3)
    slowest = max(out, key=out.__getitem__)
    out["slowest_page"], out["slowest_page_s"] = slowest[:-2], out[slowest]
    return out


def reuse(args: argparse.Namespace) -> dict:
    """--reuse: the project a run with --keep seeded, put back as the seed left it (every item open and
    undecided, no dataset version), so that the next re-aggregation is a first one again; the volunteers'
    answers in the hot path are the stored consensus (the seed's truth is not stored)."""
    from django.contrib.auth import get_user_model
    from django.db import connection

    from labeling.models import Annotation, DatasetVersion, Item, Project

    project = Project.objects.get(slug="scale")
    t0 = time.perf_counter()
    DatasetVersion.objects.filter(project=project).delete()
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE labeling_item SET status = 'open', review_reason = '', label = NULL, posterior = NULL, "
            "confidence = NULL, priority = 0, needed_votes = %s WHERE project_id = %s",
            [max(project.min_votes, 1), project.pk],
        )
    log(f"reset the kept project in {time.perf_counter() - t0:.1f} s")
    return {"project": project, "owner": get_user_model().objects.get(username="scale-owner"),
            "votes": Annotation.objects.filter(item__project=project).count(), "seed_s": 0.0, "truth": None,
            "items": Item.objects.filter(project=project).count()}  # fmt: skip


def run(args: argparse.Namespace) -> dict:
    from django.conf import settings

    from labeling.models import DatasetExport, Item
    from labeling.services.datasets import dataset_version_create
    from labeling.services.exports import dataset_export_request, dataset_export_run
    from labeling.services.quality import project_reaggregate

    rng = np.random.default_rng(args.seed)
    seeded = reuse(args) if args.reuse else seed(args, rng)
    project = seeded["project"]
    out: dict = {"items": seeded.get("items", args.items), "votes": seeded["votes"],
                 "seed_s": round(seeded["seed_s"], 1)}  # fmt: skip

    t0 = time.perf_counter()
    with PeakRss() as rss:
        result = project_reaggregate(project_id=project.pk)
    out["reaggregate_s"] = round(time.perf_counter() - t0, 2)
    out["reaggregate_peak_rss_mb"] = round(rss.peak / 2**20, 1)
    out["rows_written"] = result.items_written if result else 0
    log(f"re-aggregation {out['reaggregate_s']} s, peak RSS {out['reaggregate_peak_rss_mb']} MiB, "
        f"{out['rows_written']} item rows written")  # fmt: skip
    out["items_done"] = Item.objects.filter(project=project, status=Item.Status.DONE).count()

    t0 = time.perf_counter()
    version = dataset_version_create(project=project, created_by=seeded["owner"])
    out["dataset_create_s"] = round(time.perf_counter() - t0, 2)
    out["dataset_rows"] = version.rows.count() if hasattr(version, "rows") else None
    log(f"dataset_version_create {out['dataset_create_s']} s ({out['dataset_rows']} rows)")

    export = dataset_export_request(version=version, fmt=DatasetExport.Format.CSV, enqueue=False)
    t0 = time.perf_counter()
    export = dataset_export_run(export_id=export.pk)
    out["export_s"] = round(time.perf_counter() - t0, 2)
    out["export_status"] = str(export.status) if export else None
    log(f"CSV export {out['export_s']} s ({out['export_status']})")

    settings.ANNOTATE = {**settings.ANNOTATE, "QUALITY_REAGGREGATE_EVERY": 0}  # no Celery in this process
    truth = seeded["truth"]
    if truth is None:  # --reuse: the consensus the re-aggregation above wrote
        labelled = Item.objects.filter(project=project, label__isnull=False).values_list("id", "label")
        truth = {i: label == 1 for i, label in labelled.iterator(50_000)}
    out.update(hot_path(project, args.rounds, truth, args.seed))
    log(f"hot path: {out}")
    out.update(page_times(project, seeded["owner"]))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--categories", type=int, default=1000)
    parser.add_argument("--votes", type=int, default=5_000_000)
    parser.add_argument("--volunteers", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=20, help="next + submit rounds for the hot-path ratios")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", action="store_true", help="keep the database")
    parser.add_argument("--db-suffix", default="scalebench", help="the throw-away database is <db>_<suffix>")
    parser.add_argument("--json", action="store_true", help="last stdout line: the summary as JSON")
    parser.add_argument("--reuse", action="store_true", help="measure again on a database seeded with --keep")
    args = parser.parse_args()
    django.setup()
    from django.db import connection
    from django.test.utils import teardown_test_environment

    if args.reuse:
        from django.conf import settings

        db = settings.DATABASES["default"]
        db["NAME"] = str(Path(settings.VAR_DIR) / f"{args.db_suffix}.sqlite3") if db["ENGINE"].endswith("sqlite3") \
            else f"{db['NAME']}_{args.db_suffix}"  # fmt: skip
        args.keep = True
        name = db["NAME"]
    else:
        name = setup_db(args.db_suffix)
    try:
        out = run(args)
    finally:
        if not args.keep:
            connection.creation.destroy_test_db(name, verbosity=0)
            teardown_test_environment()
    if args.json:
        print(json.dumps(out))
    else:
        for key, value in out.items():
            print(f"{key:>26}: {value}")


if __name__ == "__main__":
    main()
