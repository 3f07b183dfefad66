"""Reading crowd CSV files into integer codes, and the `aggregate` command's file contract."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from labeling.algorithms.crowd_io import read_crowd, sort_label_names

REPO = Path(__file__).resolve().parents[3]


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_label_order_is_numeric_when_all_labels_are_numbers() -> None:
    assert sort_label_names({"10", "2", "1"}) == ["1", "2", "10"]
    assert sort_label_names({"b", "10", "a"}) == ["10", "a", "b"]


def test_read_crowd_codes_and_gold(tmp_path: Path) -> None:
    labels = write(tmp_path / "labels.csv", "label,worker,item\n10,w2,x\n2,w1,x\n2,w1,y\n10,w2,y\n2,w2,x\n")
    gold = write(tmp_path / "gold.csv", "item,label\ny,10\nz,2\n")
    crowd = read_crowd(labels, gold)
    assert crowd.item_names == ["x", "y"] and crowd.worker_names == ["w1", "w2"] and crowd.label_names == ["2", "10"]
    np.testing.assert_array_equal(crowd.items, [0, 0, 1, 1, 0])
    np.testing.assert_array_equal(crowd.workers, [1, 0, 0, 1, 1])
    np.testing.assert_array_equal(crowd.labels, [1, 0, 0, 1, 0])  # duplicate (w2, x) row kept
    np.testing.assert_array_equal(crowd.gold_items, [1])
    np.testing.assert_array_equal(crowd.gold_labels, [1])
    assert crowd.gold_dropped == 1  # z has no votes


def test_byte_order_mark_from_spreadsheets_is_tolerated(tmp_path: Path) -> None:
    crowd = read_crowd(write(tmp_path / "labels.csv", "\ufeffworker,item,label\nw,i,a\n"))
    assert crowd.worker_names == ["w"] and crowd.label_names == ["a"]


@pytest.mark.parametrize(
    ("text", "message"),
    [("", "empty"), ("worker,item\nw,i\n", "missing column"), ("worker,item,label\n", "no label rows"),
     ("worker,item,label\nw,i\n", "expected 3 fields")],
)  # fmt: skip
def test_read_crowd_rejects_bad_files(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        read_crowd(write(tmp_path / "labels.csv", text))


def test_conflicting_gold_is_refused(tmp_path: Path) -> None:
    labels = write(tmp_path / "labels.csv", "worker,item,label\nw,i,a\n")
    gold = write(tmp_path / "gold.csv", "item,label\ni,a\ni,b\n")
    with pytest.raises(ValueError, match="conflicting"):
        read_crowd(labels, gold)


def run_command(*args: str) -> subprocess.CompletedProcess[str]:
    pytest.importorskip("django")
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "annotate.settings.test"}
    return subprocess.run(
        [sys.executable, "manage.py", "aggregate", *args], cwd=REPO, env=env, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip


def test_aggregate_command_writes_predictions(tmp_path: Path) -> None:
    labels = write(tmp_path / "labels.csv", "worker,item,label\na,i1,cat\nb,i1,cat\nc,i1,dog\na,i2,dog\nb,i2,dog\n")
    out = tmp_path / "pred.csv"
    done = run_command("--labels", str(labels), "--method", "mv", "--out", str(out))
    assert done.returncode == 0, done.stderr
    with out.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["item"], r["label"]) for r in rows] == [("i1", "cat"), ("i2", "dog")]
    assert float(rows[0]["confidence"]) == pytest.approx(2 / 3, abs=1e-6)


def run_in_process(*args: str) -> None:
    """The command's handle() without manage.py: no settings or database involved, and no process start-up."""
    pytest.importorskip("django")
    from labeling.management.commands.aggregate import Command

    command = Command()
    options = command.create_parser("manage.py", "aggregate").parse_args(list(args))
    command.handle(**vars(options))


def test_aggregate_command_errors_are_clear(tmp_path: Path) -> None:
    pytest.importorskip("django")
    from django.core.management.base import CommandError

    labels = write(tmp_path / "labels.csv", "worker,item,label\na,i1,cat\n")
    out = tmp_path / "pred.csv"
    with pytest.raises(CommandError, match="unknown method 'nope'"):
        run_in_process("--labels", str(labels), "--method", "nope", "--out", str(out))
    with pytest.raises(CommandError, match="no such file"):
        run_in_process("--labels", str(tmp_path / "absent.csv"), "--out", str(out))
    with pytest.raises(CommandError, match="missing column"):
        run_in_process("--labels", str(write(tmp_path / "bad.csv", "a,b\n1,2\n")), "--out", str(out))
    run_in_process("--labels", str(labels), "--out", str(out))
    assert out.read_text().splitlines() == ["item,label,confidence", "i1,cat,1.000000"]


def test_aggregate_command_json_reports_the_chosen_model(tmp_path: Path) -> None:
    """`aggregate --json`: the default says which model it chose for this crowd and why, with the evidence."""
    pytest.importorskip("django")
    import io
    import json

    from labeling.algorithms.crowd_sim import simulate_crowd
    from labeling.management.commands.aggregate import Command

    crowd = simulate_crowd(n_items=300, n_workers=12, n_classes=2, votes_per_item=5, spammers=0.3, seed=2)
    rows = [f"w{w},i{i},{lab}" for i, w, lab in zip(crowd.items, crowd.workers, crowd.labels, strict=True)]
    labels = write(tmp_path / "labels.csv", "worker,item,label\n" + "\n".join(rows) + "\n")
    gold = write(tmp_path / "gold.csv", "item,label\n" + "\n".join(f"i{i},{crowd.truth[i]}" for i in range(0, 300, 10)))
    command = Command(stdout=io.StringIO())
    options = command.create_parser("manage.py", "aggregate").parse_args(
        ["--labels", str(labels), "--gold", str(gold), "--out", str(tmp_path / "pred.csv"), "--json"]
    )
    command.handle(**vars(options))
    summary = json.loads(command.stdout._out.getvalue())
    assert summary["method"] == "pooled_dawid_skene" and summary["gold"] == 30
    assert summary["model"] in {"mv", "one_coin", "pooled", "mace", "ds"} and summary["model_reason"]
    assert summary["model_evidence"]["gold_scored"] == 30 and summary["model_evidence"]["held_out_votes"] > 0
