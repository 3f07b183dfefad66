"""next_items with a long `only_ids` list: what each arrival of `replay_crowd` pays (issue 13, item 4).

    DATABASE_URL=postgres://... .venv/bin/python bench/next_only_ids.py [--labels ../shared/data/crowd/X/labels.csv]

Builds the replay's throw-away project for a crowd file (one item per file item, one user per worker; the
replay's own `_setup`), then times `next_items(n=10, only_ids=<the worker's items>)` for the --workers workers
with most labels, --rounds times each, every call rolled back so all calls see the same state. Prints the
median and mean in ms and, last line, JSON {"workers", "largest_only_ids", "next_median_ms", "next_mean_ms"}.
The project is deleted afterwards.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "annotate.settings.base")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    crowd_dir = ROOT.parent / "shared" / "data" / "crowd" / "product"
    parser.add_argument("--labels", default=str(crowd_dir / "labels.csv"))
    parser.add_argument("--gold", default=str(crowd_dir / "gold.csv"))
    parser.add_argument("--workers", type=int, default=12)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    import django

    django.setup()
    from django.db import transaction

    from labeling.algorithms.crowd_io import read_crowd
    from labeling.services.assignment import next_items
    from labeling.services.quality.replay import _cleanup, _setup

    crowd = read_crowd(args.labels, args.gold)
    answers: dict[int, dict[int, int]] = defaultdict(dict)
    for w, i, lab in zip(crowd.workers.tolist(), crowd.items.tolist(), crowd.labels.tolist(), strict=True):
        answers[w].setdefault(i, lab)
    with transaction.atomic():
        project, items, users = _setup(crowd, policy="adaptive", votes=None, target=0.95, max_labels=20, audit_rate=0.0)
    try:
        top = sorted(answers, key=lambda w: -len(answers[w]))[: args.workers]
        times = []
        for _ in range(args.rounds):
            for w in top:
                only = [items[i].pk for i in answers[w]]
                started = time.perf_counter()
                with transaction.atomic():
                    next_items(user=users[w], project=project, n=10, only_ids=only)
                    transaction.set_rollback(True)
                times.append(time.perf_counter() - started)
    finally:
        _cleanup(project, users)
    median, mean = statistics.median(times) * 1000, statistics.mean(times) * 1000
    print(f"{len(top)} workers ({len(answers[top[0]])} ids the most), {len(times)} calls: "
          f"median {median:.1f} ms, mean {mean:.1f} ms")  # fmt: skip
    print(json.dumps({"workers": len(top), "largest_only_ids": len(answers[top[0]]),
                      "next_median_ms": round(median, 1), "next_mean_ms": round(mean, 1)}))  # fmt: skip


if __name__ == "__main__":
    main()
