"""The default method on the public crowd sets (../shared/data/crowd): skipped when the folder is absent.

Goals from the issues: never below MV (asserted on every set), and within 1 point of the best crowd-kit 1.4.2
method (asserted except where a known gap is recorded: then it is an expected failure that reports itself).
The reference numbers are the README's; the full table is printed by bench/quality_algorithms.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from labeling.algorithms.aggregation import DEFAULT_METHOD, aggregate
from labeling.algorithms.crowd_io import read_crowd

CROWD_DIR = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "crowd"
BEST_CROWDKIT = {"bluebirds": 0.8889, "rte": 0.9275, "temp": 0.9437, "web": 0.8296, "product": 0.9397}
# Known gaps (bench/RESULTS.md), set -> why. Bluebirds was one until issue 23's two-class rule (choice.vote_mv_level):
# its P ~ 0.96 that Dawid-Skene beats majority vote on held-out votes did not reach the 0.99 demanded before.
KNOWN_GAPS: dict[str, str] = {}


@pytest.mark.parametrize("name", sorted(BEST_CROWDKIT))
def test_default_method_meets_the_accuracy_goal(name: str) -> None:
    folder = CROWD_DIR / name
    if not (folder / "labels.csv").is_file():
        pytest.skip(f"{folder} not present")
    crowd = read_crowd(folder / "labels.csv", folder / "gold.csv")

    def accuracy(method: str) -> float:
        result = aggregate(method, crowd.items, crowd.workers, crowd.labels, n_classes=len(crowd.label_names))
        return float((result.labels[crowd.gold_items] == crowd.gold_labels).mean())

    default, mv = accuracy(DEFAULT_METHOD), accuracy("mv")
    assert default >= mv, (name, default, mv)
    if name in KNOWN_GAPS and default < BEST_CROWDKIT[name] - 0.01:
        pytest.xfail(KNOWN_GAPS[name])
    assert default >= BEST_CROWDKIT[name] - 0.01, (name, default)
