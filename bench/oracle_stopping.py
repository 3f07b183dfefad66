"""Oracle bound for adaptive stopping (issue 23, item 3): how few labels a crowd with *known* skills needs.

    .venv/bin/python bench/oracle_stopping.py [--crowd-dir ../shared/data/crowd] [--seeds 5]
        [--engine SET=SHARE:ACCURACY ...]

Per dev set, every worker's confusion is taken as known: measured on the set's gold (add-1/2 per cell), class priors
= gold label shares. Each item's votes arrive in a seeded random order (one answer per worker and item, the first
row, as the replay does); the oracle stops an item as soon as its exact posterior reaches the target (no minimum,
no temperature: the skills are right by construction), else it uses every vote. Reported per target: label share
(labels used / labels available) and accuracy on gold, mean over seeds; then the smallest share at which the oracle
reaches majority vote's accuracy over all labels ("the bound at the same accuracy") and, with --engine, the engine's
measured share (from `manage.py replay_crowd --policy adaptive`) as a ratio to the oracle's share at the engine's
accuracy. Goal: ratio <= 1.5.

This is a bound for a *replay* of the file: the oracle can only use the votes the file has, in the same
one-vote-at-a-time fashion as the engine, so the gap is what knowing skills exactly is worth. A benchmark reports;
exit status 0 whatever the numbers.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from labeling.algorithms.aggregation import aggregate
from labeling.algorithms.crowd_io import CrowdLabels, read_crowd

SETS = ["bluebirds", "rte", "temp", "web", "product"]
TARGETS = (0.8, 0.9, 0.95, 0.99)
# Fine grid for "the smallest share reaching a given accuracy".
GRID = np.r_[np.linspace(0.5, 0.95, 46), np.linspace(0.951, 0.9999, 50)]


def first_answers(c: CrowdLabels) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One vote per (worker, item): the first row, as replay_crowd does."""
    key = c.workers * len(c.item_names) + c.items
    _, first = np.unique(key, return_index=True)
    first = np.sort(first)
    return c.items[first], c.workers[first], c.labels[first]


def oracle_model(c: CrowdLabels, items: np.ndarray, workers: np.ndarray,
                 labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """(worker log-confusion (W, K, K), log class priors (K,)) measured on gold, add-1/2."""
    k, n_w = len(c.label_names), len(c.worker_names)
    gold = np.full(len(c.item_names), -1)
    gold[c.gold_items] = c.gold_labels
    on_gold = gold[items] >= 0
    counts = np.zeros((n_w, k, k))
    np.add.at(counts, (workers[on_gold], gold[items[on_gold]], labels[on_gold]), 1.0)
    counts += 0.5
    confusion = counts / counts.sum(axis=2, keepdims=True)
    priors = np.bincount(c.gold_labels, minlength=k) + 0.5
    return np.log(confusion), np.log(priors / priors.sum())


def replay(items: np.ndarray, workers: np.ndarray, labels: np.ndarray, log_conf: np.ndarray, log_prior: np.ndarray,
           scored: np.ndarray, truth: np.ndarray, seed: int,
           targets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """(share, accuracy) per target: votes in a seeded random order per item, stop at the first posterior >= t."""
    rng = np.random.default_rng(seed)
    order = np.lexsort((rng.random(items.size), items))
    it, wk, lb = items[order], workers[order], labels[order]
    terms = log_conf[wk, :, lb]  # (n, K) log P(label | true class)
    cum = np.cumsum(terms, axis=0)
    starts = np.searchsorted(it, it)  # first vote of each vote's item
    before = np.where(starts[:, None] > 0, cum[np.maximum(starts - 1, 0)], 0.0)
    joint = cum - before + log_prior
    joint -= joint.max(axis=1, keepdims=True)
    post = np.exp(joint)
    post /= post.sum(axis=1, keepdims=True)
    top, label = post.max(axis=1), post.argmax(axis=1)
    rank = np.arange(it.size) - starts
    last = np.r_[it[1:] != it[:-1], True]
    n_items = int(items.max()) + 1
    shares, accs = [], []
    for t in targets:
        stop = (top >= t) | last
        # first stopping vote per item
        first_stop = np.full(n_items, -1)
        idx = np.flatnonzero(stop)
        first_idx = idx[np.r_[True, it[idx][1:] != it[idx][:-1]]]
        first_stop[it[first_idx]] = first_idx
        used = rank[first_stop[first_stop >= 0]] + 1
        shares.append(used.sum() / items.size)
        pred = np.full(n_items, -1)
        pred[it[first_idx]] = label[first_idx]
        accs.append(float((pred[scored] == truth).mean()))
    return np.array(shares), np.array(accs)


def bound_at(share: np.ndarray, acc: np.ndarray, accuracy: float) -> float:
    """The smallest label share at which the oracle's accuracy reaches `accuracy` (nan if it never does)."""
    reach = acc >= accuracy - 1e-12
    return float(share[reach].min()) if reach.any() else float("nan")


def main(argv: list[str] | None = None) -> int:
    root = Path(__file__).resolve().parents[1]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--crowd-dir", type=Path, default=root.parent / "shared" / "data" / "crowd")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--engine", nargs="*", default=[], help="SET=SHARE:ACCURACY measured by replay_crowd")
    args = parser.parse_args(argv)
    engine = {}
    for spec in args.engine:
        name, _, rest = spec.partition("=")
        share, _, acc = rest.partition(":")
        engine[name] = (float(share), float(acc))
    targets = np.r_[np.array(TARGETS), GRID]
    print(f"oracle stopping (skills known from gold), {args.seeds} seeds: label share / accuracy per target")
    print(f"{'set':<10}" + "".join(f"{t:>16}" for t in TARGETS) + f"{'MV(all)':>9}{'bound at MV acc':>18}"
          f"{'engine':>16}{'oracle@eng acc':>16}{'ratio':>7}")  # fmt: skip
    for s in SETS:
        folder = args.crowd_dir / s
        if not (folder / "labels.csv").is_file():
            continue
        c = read_crowd(folder / "labels.csv", folder / "gold.csv")
        items, workers, labels = first_answers(c)
        log_conf, log_prior = oracle_model(c, items, workers, labels)
        voted = np.bincount(items, minlength=len(c.item_names)) > 0
        scored_mask = voted[c.gold_items]
        scored, truth = c.gold_items[scored_mask], c.gold_labels[scored_mask]
        runs = [replay(items, workers, labels, log_conf, log_prior, scored, truth, seed, targets)
                for seed in range(args.seeds)]  # fmt: skip
        share = np.mean([r[0] for r in runs], axis=0)
        acc = np.mean([r[1] for r in runs], axis=0)
        mv = aggregate("mv", items, workers, labels, n_items=len(c.item_names), n_classes=len(c.label_names))
        mv_acc = float((mv.labels[scored] == truth).mean())

        cells = "".join(f"{share[i]:>8.1%}/{acc[i]:.3f}" for i in range(len(TARGETS)))
        line = f"{s:<10}{cells}{mv_acc:>9.4f}{bound_at(share, acc, mv_acc):>18.1%}"
        if s in engine:
            e_share, e_acc = engine[s]
            b = bound_at(share, acc, e_acc)
            line += f"{e_share:>9.1%}/{e_acc:.3f}{b:>16.1%}{e_share / b if b == b and b > 0 else float('nan'):>7.2f}"
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
