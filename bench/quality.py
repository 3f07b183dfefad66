"""Quality benchmark: replay the public crowd sets through the platform (`manage.py replay_crowd`).

    python bench/quality.py [--sets bluebirds,temp,...] [--cost-sets bluebirds,temp] [--targets .7,.9,.95,.99]
                            [--ks 1,2,3,5,7] [--no-cost] [--no-table] [--use-gold-fraction 0.1]

(1) accuracy table: every set x every method with --policy all (one replay per set; methods are compared on the
    same replayed votes with --compare-methods), next to crowd-kit 1.4.2's numbers from ../shared/data/crowd;
(2) cost curve: accuracy vs labels used for --policy fixed K and --policy adaptive at several targets;
(3) speed of the algorithms: bench/quality_algorithms.py (the algorithms' own benchmark; not repeated here).
Appends a section to bench/RESULTS.md. Needs a database with the tables (DATABASE_URL) like any manage.py call.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data" / "crowd"
sys.path.insert(0, str(ROOT))  # the pure algorithms, for majority vote over all labels
METHODS = ["mv", "wmv", "wawa", "dawid_skene", "one_coin_ds", "mace", "pooled_dawid_skene"]
DEFAULT = "pooled_dawid_skene"
DEFAULT_TARGET = 0.95  # the replay's and a new project's confidence target
MIN_GOLD_LABELS = 20  # workers scored for the Spearman goal: at least this many labels on gold items
CROWDKIT = {  # README of ../shared/data/crowd: crowd-kit 1.4.2, all labels
    "bluebirds": {"MV": 0.7593, "Wawa": 0.7593, "DS": 0.8889, "OneCoinDS": 0.5833, "GLAD": 0.7222, "MACE": 0.7500},
    "rte": {"MV": 0.9187, "Wawa": 0.9213, "DS": 0.9275, "OneCoinDS": 0.9250, "GLAD": 0.9250, "MACE": 0.9250},
    "temp": {"MV": 0.9394, "Wawa": 0.9437, "DS": 0.9416, "OneCoinDS": 0.9394, "GLAD": 0.9351, "MACE": 0.9394},
    "web": {"MV": 0.7765, "Wawa": 0.8168, "DS": 0.8292, "OneCoinDS": 0.7486, "GLAD": 0.8213, "MACE": 0.8296},
    "product": {"MV": 0.8966, "Wawa": 0.8966, "DS": 0.9397, "OneCoinDS": 0.9084, "GLAD": 0.9283, "MACE": 0.9290},
}


def replay(name: str, *extra: str) -> list[dict]:
    cmd = [
        sys.executable, "manage.py", "replay_crowd",
        "--labels", str(DATA / name / "labels.csv"), "--gold", str(DATA / name / "gold.csv"), "--json", *extra,
    ]  # fmt: skip
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{out.stderr[-2000:]}")
    return [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]


def _crowd(name: str):
    from labeling.algorithms.crowd_io import read_crowd

    return read_crowd(DATA / name / "labels.csv", DATA / name / "gold.csv")


def plain_mv(name: str) -> float:
    """Majority vote over every label of the file (pure algorithm, ties -> lowest label, as crowd-kit's README)."""
    from labeling.algorithms.aggregation import aggregate

    crowd = _crowd(name)
    labels = aggregate("mv", crowd.items, crowd.workers, crowd.labels, n_items=len(crowd.item_names)).labels
    return float((labels[crowd.gold_items] == crowd.gold_labels).mean())


def one_random_label(name: str) -> float:
    """Expected accuracy of trusting one random label per item (over gold items with a label)."""
    import numpy as np

    crowd = _crowd(name)
    gold = dict(zip(crowd.gold_items.tolist(), crowd.gold_labels.tolist(), strict=True))
    right = np.zeros(len(crowd.item_names))
    total = np.zeros(len(crowd.item_names))
    for i, lab in zip(crowd.items.tolist(), crowd.labels.tolist(), strict=True):
        if i in gold:
            total[i] += 1
            right[i] += lab == gold[i]
    voted = total > 0
    return float((right[voted] / total[voted]).mean())


def score_spearman(name: str, annotators_csv: Path) -> tuple[float | None, int]:
    """Spearman correlation of estimated vs gold accuracy over workers with >= MIN_GOLD_LABELS gold-scored labels."""
    import csv

    import numpy as np
    from scipy.stats import spearmanr

    crowd = _crowd(name)
    gold = set(crowd.gold_items.tolist())
    on_gold = np.bincount(crowd.workers[np.isin(crowd.items, list(gold))], minlength=len(crowd.worker_names))
    index = {str(w): i for i, w in enumerate(crowd.worker_names)}
    est, acc = [], []
    with annotators_csv.open(newline="") as fh:
        for row in csv.DictReader(fh):
            w = index.get(row["worker"])
            if w is None or on_gold[w] < MIN_GOLD_LABELS or not row["estimated_accuracy"] or not row["gold_accuracy"]:
                continue
            est.append(float(row["estimated_accuracy"]))
            acc.append(float(row["gold_accuracy"]))
    if len(est) < 3:
        return None, len(est)
    return float(spearmanr(est, acc).statistic), len(est)


def max_labels_per_item(name: str) -> int:
    import numpy as np

    return int(np.bincount(_crowd(name).items).max())


def accuracy_table(sets: list[str]) -> list[str]:
    lines = [
        "| set | labels used | " + " | ".join(METHODS) + " | MV, all labels | crowd-kit best | default − best "
        "| default − MV all labels | default − replay mv | score Spearman (workers) | seconds |",
        "|---" * (len(METHODS) + 9) + "|",
    ]
    for name in sets:
        scores_csv = ROOT / "var" / f"bench-annotators-{name}.csv"
        scores_csv.parent.mkdir(parents=True, exist_ok=True)
        rows = {
            r["method"]: r
            for r in replay(
                name,
                "--policy",
                "all",
                "--method",
                DEFAULT,
                "--compare-methods",
                ",".join(METHODS),
                "--annotators-out",
                str(scores_csv),
            )
        }
        rho, n_workers = score_spearman(name, scores_csv)
        ck = CROWDKIT.get(name, {})
        best = max(ck.values()) if ck else float("nan")
        mv_all = plain_mv(name)
        cells = [
            f"{rows[m]['accuracy']:.4f}" if rows.get(m) and rows[m]["accuracy"] is not None else "–" for m in METHODS
        ]
        default = rows[DEFAULT]
        used = f"{default['labels_used']} / {default['labels_available']}"
        lines.append(
            f"| {name} | {used} | " + " | ".join(cells) + f" | {mv_all:.4f} | {best:.4f} | "
            f"{default['accuracy'] - best:+.4f} | {default['accuracy'] - mv_all:+.4f} | "
            f"{default['accuracy'] - rows['mv']['accuracy']:+.4f} | "
            f"{'–' if rho is None else f'{rho:.2f}'} ({n_workers}) | {default['seconds']:.0f} |"
        )
        print(lines[-1], flush=True)
    return lines


def _cost_row(name: str, policy: str, r: dict) -> str:
    share = r["labels_used"] / r["labels_available"]
    return f"| {name} | {policy} | {r['labels_used']} | {share:.0%} | {r['accuracy']:.4f} | {r['seconds']:.0f} |"


def cost_curve(sets: list[str], ks: list[int], targets: list[float], gold_fraction: float = 0.0) -> list[str]:
    """Accuracy vs labels; per set: adaptive at the default target reaches MV over all labels; the cheapest adaptive
    run that does (goal: <= 50 %); no adaptive run below one random label's accuracy."""
    lines = ["| set | policy | labels used | share of labels | accuracy | seconds |", "|---|---|---|---|---|---|"]
    verdicts = []
    extra = ("--use-gold-fraction", str(gold_fraction)) if gold_fraction else ()
    targets = sorted({*targets, DEFAULT_TARGET})
    for name in sets:
        mv_all = plain_mv(name)
        floor = one_random_label(name)
        most = max_labels_per_item(name)
        for k in [k for k in ks if k < most]:  # K >= the most labels per item is `all`
            r = replay(name, "--policy", "fixed", "--votes", str(k))[-1]
            lines.append(_cost_row(name, f"fixed K={k}", r))
            print(lines[-1], flush=True)
        reached, at_default, below_floor = [], None, []
        for t in targets:
            r = replay(name, "--policy", "adaptive", "--target", str(t), *extra)[-1]
            lines.append(_cost_row(name, f"adaptive {t}", r))
            print(lines[-1], flush=True)
            if r["accuracy"] is None:
                continue
            if t == DEFAULT_TARGET:
                at_default = r["accuracy"]
            if r["accuracy"] < floor:
                below_floor.append(t)
            if r["accuracy"] >= mv_all:
                reached.append((r["labels_used"] / r["labels_available"], t, r["accuracy"]))
        if at_default is not None:
            ok = at_default >= mv_all
            verdicts.append(
                f"- {name}: at the default target {DEFAULT_TARGET} adaptive gives {at_default:.4f} vs MV over all "
                f"labels {mv_all:.4f} — goal {'met' if ok else f'MISSED by {mv_all - at_default:.4f}'}"
            )
        if reached:
            share, t, acc = min(reached)
            verdicts.append(
                f"- {name}: adaptive {t} reaches {acc:.4f} ≥ MV over all labels ({mv_all:.4f}) with {share:.0%} "
                f"of the labels — goal (≤ 50 %) {'met' if share <= 0.5 else 'MISSED'}"
            )
        else:
            verdicts.append(f"- {name}: no adaptive target reached MV over all labels ({mv_all:.4f}) — goal MISSED")
        verdicts.append(
            f"- {name}: one random label is right {floor:.4f} of the time; adaptive below it at "
            f"{', '.join(map(str, below_floor)) if below_floor else 'no target'}"
        )
        print(*verdicts[-3:], sep="\n", flush=True)
    return [*lines, "", *verdicts]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sets", default="bluebirds,temp,rte,web,product")
    parser.add_argument("--cost-sets", default="bluebirds,temp,rte,web,product")
    parser.add_argument("--ks", default="1,2,3,5,7,10")
    parser.add_argument("--targets", default="0.7,0.8,0.9,0.95,0.99")
    parser.add_argument(
        "--use-gold-fraction", type=float, default=0.0, help="share of gold items given to the engine as gold"
    )
    parser.add_argument("--no-cost", action="store_true")
    parser.add_argument("--no-table", action="store_true")
    args = parser.parse_args()
    started = time.time()
    section = [f"\n## Quality (replay_crowd through the services) — {time.strftime('%Y-%m-%d %H:%M')}\n"]
    section.append(f"Command: `python bench/quality.py {' '.join(sys.argv[1:])}`\n")
    if not args.no_table:
        section += [
            "### Accuracy, --policy all (gold only for scoring; MV ties -> lowest label)\n",
            "`labels used`: under `all` the engine still blocks annotators its rules catch (e.g. one answer for",
            "everything); their later labels are refused and their votes stop counting, so the replay's `mv` column",
            "is majority vote over the surviving votes. `MV, all labels` is majority vote over every row of the",
            "file (the pure algorithm; crowd-kit's definition, which it reproduces).\n",
        ]
        section += accuracy_table([s for s in args.sets.split(",") if s])
    if not args.no_cost:
        section += ["", "### Cost curve (default method)\n"]
        section += cost_curve(
            [s for s in args.cost_sets.split(",") if s],
            [int(k) for k in args.ks.split(",")],
            [float(t) for t in args.targets.split(",")],
            args.use_gold_fraction,
        )
    section.append(
        f"\nSpeed of the algorithms: see `bench/quality_algorithms.py`. Wall time {time.time() - started:.0f} s.\n"
    )
    with (ROOT / "bench" / "RESULTS.md").open("a", encoding="utf-8") as fh:
        fh.write("\n".join(section) + "\n")
    print("\n".join(section))


if __name__ == "__main__":
    main()
