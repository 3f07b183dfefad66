"""Read crowd label files into integer-coded numpy arrays (stdlib csv + numpy; the runtime needs no pandas).

`labels.csv` has columns worker,item,label (strings, any column order, one row per answer; duplicates kept);
`gold.csv` has item,label. Codes are stable across runs and row orders: items and workers are sorted, and label
strings are sorted numerically when they all parse as numbers ("2" < "10"), otherwise lexicographically.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class CrowdLabels:
    items: np.ndarray  # (n_votes,) int64 codes into item_names
    workers: np.ndarray  # (n_votes,) int64 codes into worker_names
    labels: np.ndarray  # (n_votes,) int64 codes into label_names
    item_names: list[str]
    worker_names: list[str]
    label_names: list[str]
    gold_items: np.ndarray  # (n_gold,) int64: gold items that also appear in labels.csv
    gold_labels: np.ndarray  # (n_gold,) int64
    gold_dropped: int  # distinct gold items without any vote, left out of the arrays


def _read_columns(path: Path, required: tuple[str, ...]) -> dict[str, list[str]]:
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:  # -sig: tolerate a BOM from spreadsheets
            reader = csv.reader(handle)
            header = next(reader, None)
            if header is None:
                raise ValueError(f"{path}: file is empty")
            names = [h.strip().lower() for h in header]
            missing = [c for c in required if c not in names]
            if missing:
                raise ValueError(f"{path}: missing column(s) {', '.join(missing)}; header is {header}")
            pos = [names.index(c) for c in required]
            columns: dict[str, list[str]] = {c: [] for c in required}
            for line_no, row in enumerate(reader, start=2):
                if not row or all(not cell.strip() for cell in row):
                    continue
                if len(row) < len(names):
                    raise ValueError(f"{path}:{line_no}: expected {len(names)} fields, got {len(row)}")
                for col, p in zip(required, pos, strict=True):
                    columns[col].append(row[p].strip())
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: not a UTF-8 CSV file ({exc})") from exc
    return columns


def sort_label_names(names: set[str] | list[str]) -> list[str]:
    """Numeric order when every label parses as a number, else plain string order."""
    unique = sorted(set(names))
    try:
        return sorted(unique, key=lambda s: (float(s), s))
    except ValueError:
        return unique


def _encode(values: list[str], vocabulary: list[str]) -> np.ndarray:
    lookup = {name: code for code, name in enumerate(vocabulary)}
    return np.fromiter((lookup[v] for v in values), dtype=np.int64, count=len(values))


def read_crowd(labels_path: str | Path, gold_path: str | Path | None = None) -> CrowdLabels:
    """Read labels.csv (and optionally gold.csv) into codes; gold labels share the vote label vocabulary,
    extended by any gold-only label so a class nobody voted for still gets a code."""
    votes = _read_columns(Path(labels_path), ("worker", "item", "label"))
    gold = _read_columns(Path(gold_path), ("item", "label")) if gold_path is not None else {"item": [], "label": []}
    if not votes["item"]:
        raise ValueError(f"{labels_path}: no label rows")
    item_names, items = np.unique(np.asarray(votes["item"], dtype=object), return_inverse=True)
    worker_names, workers = np.unique(np.asarray(votes["worker"], dtype=object), return_inverse=True)
    label_names = sort_label_names(set(votes["label"]) | set(gold["label"]))
    item_list = [str(x) for x in item_names]
    item_lookup = {name: code for code, name in enumerate(item_list)}
    keep = [i for i, name in enumerate(gold["item"]) if name in item_lookup]
    # A gold item listed twice with different answers is ambiguous: refuse rather than pick one silently.
    seen: dict[str, str] = {}
    for name, label in zip(gold["item"], gold["label"], strict=True):
        if seen.setdefault(name, label) != label:
            raise ValueError(f"{gold_path}: item {name!r} has conflicting gold labels {seen[name]!r} and {label!r}")
    kept_items = sorted({gold["item"][i] for i in keep}, key=item_lookup.__getitem__)
    return CrowdLabels(
        items=items.astype(np.int64).ravel(),
        workers=workers.astype(np.int64).ravel(),
        labels=_encode(votes["label"], label_names),
        item_names=item_list,
        worker_names=[str(x) for x in worker_names],
        label_names=label_names,
        gold_items=np.fromiter((item_lookup[n] for n in kept_items), dtype=np.int64, count=len(kept_items)),
        gold_labels=_encode([seen[n] for n in kept_items], label_names),
        gold_dropped=len(set(gold["item"])) - len(kept_items),
    )
