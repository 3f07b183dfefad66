"""`manage.py replay_crowd` on a small generated crowd, and on bluebirds when the shared data is present."""

from __future__ import annotations

import csv
import io
import json
import random
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from labeling.algorithms.aggregation import DEFAULT_METHOD
from labeling.models import Annotation, Image, Item, Project

pytestmark = pytest.mark.django_db

BLUEBIRDS = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "crowd" / "bluebirds"


def _write_crowd(tmp_path: Path, *, n_items: int = 24, seed: int = 5) -> tuple[Path, Path]:
    rng = random.Random(seed)
    accuracy = {"ann": 0.95, "bob": 0.9, "cy": 0.85, "dee": 0.8, "eve": 0.55}
    labels, gold = [], []
    for i in range(n_items):
        truth = rng.choice(["cat", "dog"])
        gold.append((f"img{i}", truth))
        for worker, acc in accuracy.items():
            answer = truth if rng.random() < acc else ("dog" if truth == "cat" else "cat")
            labels.append((worker, f"img{i}", answer))
    lp, gp = tmp_path / "labels.csv", tmp_path / "gold.csv"
    with lp.open("w", newline="") as fh:
        csv.writer(fh).writerows([("worker", "item", "label"), *labels])
    with gp.open("w", newline="") as fh:
        csv.writer(fh).writerows([("item", "label"), *gold])
    return lp, gp


def _run(*args: str) -> tuple[dict, list[str]]:
    out = io.StringIO()
    call_command("replay_crowd", *args, "--json", stdout=out)
    lines = out.getvalue().strip().splitlines()
    return json.loads(lines[-1]), lines


def test_replay_policies_and_contract(tmp_path):
    lp, gp = _write_crowd(tmp_path)
    users_before = get_user_model().objects.count()
    base = ("--labels", str(lp), "--gold", str(gp), "--seed", "1")
    annotators_csv = tmp_path / "annotators.csv"
    full, lines = _run(*base, "--policy", "all", "--compare-methods", "mv", "--annotators-out", str(annotators_csv))
    assert set(full) == {"method", "policy", "items", "labels_available", "labels_used", "accuracy", "seconds"}
    assert full["method"] == DEFAULT_METHOD and full["policy"] == "all"
    assert full["items"] == 24 and full["labels_available"] == full["labels_used"] == 120
    assert full["accuracy"] >= 0.9
    mv = json.loads(lines[-2])
    assert mv["method"] == "mv" and full["accuracy"] >= mv["accuracy"]
    with annotators_csv.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [list(r) for r in rows[:1]] == [["worker", "estimated_accuracy", "gold_accuracy", "labels"]]
    by_worker = {r["worker"]: r for r in rows}
    assert set(by_worker) == {"ann", "bob", "cy", "dee", "eve"}
    assert all(int(r["labels"]) == 24 and 0 <= float(r["gold_accuracy"]) <= 1 for r in rows)
    estimated = {w: float(r["estimated_accuracy"]) for w, r in by_worker.items()}
    assert min(estimated, key=estimated.get) == "eve"  # the 55 % worker ranks last
    fixed, _ = _run(*base, "--policy", "fixed", "--votes", "2")
    assert fixed["labels_used"] == 48
    audited, _ = _run(*base, "--policy", "adaptive", "--target", "0.95")  # the default 5 % audit items
    assert 24 <= audited["labels_used"] < 120 and audited["accuracy"] >= 0.8
    # without audit items (chosen by item id, new in every run) a replay is exactly repeatable
    adaptive, _ = _run(*base, "--policy", "adaptive", "--target", "0.95", "--audit-rate", "0")
    assert 24 <= adaptive["labels_used"] < 120 and adaptive["accuracy"] >= 0.8
    again, _ = _run(*base, "--policy", "adaptive", "--target", "0.95", "--audit-rate", "0")
    assert again["labels_used"] == adaptive["labels_used"] and again["accuracy"] == adaptive["accuracy"]
    # Everything thrown away.
    assert not Project.objects.filter(slug__startswith="replay-").exists()
    assert Item.objects.count() == Annotation.objects.count() == 0
    assert not Image.objects.filter(format="replay").exists()
    assert get_user_model().objects.count() == users_before


def test_replay_rejects_bad_input(tmp_path):
    lp, gp = _write_crowd(tmp_path, n_items=2)
    with pytest.raises(CommandError, match="unknown method"):
        _run("--labels", str(lp), "--gold", str(gp), "--method", "nope")
    with pytest.raises(CommandError, match="--votes"):
        _run("--labels", str(lp), "--gold", str(gp), "--policy", "fixed")
    with pytest.raises(CommandError, match="no such file"):
        _run("--labels", str(tmp_path / "missing.csv"), "--gold", str(gp))
    bad = tmp_path / "bad.csv"
    bad.write_text("who,what\n1,2\n")
    with pytest.raises(CommandError, match="missing column"):
        _run("--labels", str(bad), "--gold", str(gp))


@pytest.mark.slow
def test_replay_bluebirds_default_not_below_majority_vote():
    """The guarantee, not a fixed accuracy: on bluebirds the default (live) policy is never below majority vote.
    The issue-23 model choice keeps majority vote where a richer model is not proven better on the set (on all
    labels of bluebirds it now leaves it, by the two-class rule: .898, bench/RESULTS.md; a replay sees fewer labels
    and may not): the former `>= 0.85` encoded one model's result. So the assertion is
    `accuracy >= majority vote's` on the same labels (and the run must use the labels it says it used)."""
    if not (BLUEBIRDS / "labels.csv").exists():
        pytest.skip("../shared/data/crowd/bluebirds is not present")
    result, lines = _run(
        "--labels", str(BLUEBIRDS / "labels.csv"), "--gold", str(BLUEBIRDS / "gold.csv"), "--compare-methods", "mv"
    )
    mv = json.loads(lines[-2])
    # The live rules (issue 22) block workers whose answers agree with gold and the consensus far less than a
    # careful person's; their later labels are refused, so fewer labels may be used than are available.
    assert result["labels_available"] == 4212 and result["labels_used"] <= 4212
    print(f"bluebirds: used {result['labels_used']}, accuracy {result['accuracy']:.4f}, mv {mv['accuracy']:.4f}")
    assert result["accuracy"] >= mv["accuracy"] - 1e-9  # not below majority vote (equal where MV is chosen)
    assert mv["accuracy"] > 0.7  # the comparison ran on the real set, not an empty one


WEB = BLUEBIRDS.parent / "web"


@pytest.mark.slow
def test_replay_of_a_hard_real_crowd_does_not_fall_below_majority_vote_of_the_file(tmp_path):
    """A hard multi-class crowd through the live rules (web search relevance, 5 grades, most workers weak): the
    rules may block spammers but never the workers the labels depend on. Majority vote over *every* row of the file
    (ties to the lowest label, crowd-kit's definition) is the floor: the replay's own `mv` loses the same blocked
    workers and would not see it. With a fixed agreement limit and the one-coin copy check the best workers were
    blocked here (the whole set: 0.37 against 0.78)."""
    if not (WEB / "labels.csv").exists():
        pytest.skip("../shared/data/crowd/web is not present")
    with (WEB / "labels.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    with (WEB / "gold.csv").open() as fh:
        gold = {r["item"]: r["label"] for r in csv.DictReader(fh)}
    kept = set(sorted({r["item"] for r in rows if r["item"] in gold})[:400])  # the first 400 gold items by name
    rows = [r for r in rows if r["item"] in kept]
    lp, gp = tmp_path / "labels.csv", tmp_path / "gold.csv"
    with lp.open("w", newline="") as fh:
        csv.writer(fh).writerows([("worker", "item", "label"), *((r["worker"], r["item"], r["label"]) for r in rows)])
    with gp.open("w", newline="") as fh:
        csv.writer(fh).writerows([("item", "label"), *((i, gold[i]) for i in sorted(kept))])
    votes: dict[str, list[str]] = {}
    for r in rows:
        votes.setdefault(r["item"], []).append(r["label"])
    mv_right = 0
    for item, labels in votes.items():
        counts = {lab: labels.count(lab) for lab in set(labels)}
        top = max(counts.values())
        mv_right += min((lab for lab, n in counts.items() if n == top), key=lambda s: (len(s), s)) == gold[item]
    mv_all = mv_right / len(votes)

    result, _ = _run("--labels", str(lp), "--gold", str(gp))
    print(f"web, {len(kept)} items: used {result['labels_used']} of {len(rows)}, accuracy {result['accuracy']:.4f}, "
          f"majority vote of the file {mv_all:.4f}")  # fmt: skip
    assert result["accuracy"] >= mv_all - 0.01
    assert result["labels_used"] >= 0.8 * len(rows)  # the labels the crowd gave are used, not refused
