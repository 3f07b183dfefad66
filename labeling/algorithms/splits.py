"""Deterministic stratified train/val/test split that keeps groups (near-duplicate clusters) together.

Method. Every group gets one label: the most frequent label of its members (ties: the smallest).
Within each label stratum the groups are sorted by id and shuffled with a generator seeded by
`(seed, label)` -- so adding a class never reshuffles the others. Walking the shuffled groups, a group
goes to the split whose cumulative-fraction interval contains the midpoint of the group's member
range: with singleton groups this reproduces the fractions exactly (up to rounding), and a group of
any size lands in exactly one split, so near-duplicates never straddle train and test (the leak that
inflates test accuracy, cf. Barz & Denzler, "Do we train on test data?", 2020).

Pure numpy: the input order of rows does not matter, the same (labels, groups, fractions, seed)
always gives the same assignment.

`hash_split` is what dataset versions use (since the append-only class index): a cluster's split is a
function of the seed and its canonical image's SHA-256 alone, so adding images, classes or clusters never
moves an image between splits (the stratified split reshuffles a stratum when it grows: v2's test set
would hold v1's training images). The price is that the fractions hold in expectation, not exactly
(a stratum of n clusters is off by about sqrt(n * f * (1 - f)) clusters).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

SPLIT_NAMES = ("train", "val", "test")
HASH_SPLIT_RULE = (
    "hash-v1: u = int(sha256(f'{seed}:{canonical_sha256}').digest()[:8], big-endian) / 2**64; "
    "split = train if u < f_train, val if u < f_train + f_val, else test; one split per near-duplicate cluster"
)


def hash_unit(seed: int, key: str) -> float:
    """A uniform number in [0, 1) from the seed and a key (the cluster's canonical SHA-256)."""
    digest = hashlib.sha256(f"{int(seed)}:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def hash_split(
    keys: Sequence[str], fractions: tuple[float, float, float] = (0.8, 0.1, 0.1), seed: int = 0
) -> npt.NDArray[np.int8]:
    """Split index per key (0 = train, 1 = val, 2 = test), each from `hash_unit(seed, key)` alone: the same
    key always gets the same split, whatever else is split with it. Rows of one cluster pass the same key."""
    fr = np.asarray(validate_fractions(fractions))
    if not len(keys):
        return np.zeros(0, dtype=np.int8)
    units = np.fromiter((hash_unit(seed, k) for k in keys), dtype=np.float64, count=len(keys))
    return np.searchsorted(np.cumsum(fr)[:-1], units, side="right").astype(np.int8)


def validate_fractions(fractions: tuple[float, ...] | list[float]) -> tuple[float, float, float]:
    """Three non-negative fractions summing to 1 (within 1e-6), train > 0. Raises ValueError."""
    values = tuple(float(f) for f in fractions)
    if len(values) != 3:
        raise ValueError("a split needs three fractions: train, val, test")
    if any(not np.isfinite(v) or v < 0 for v in values):
        raise ValueError("split fractions must be finite and non-negative")
    if abs(sum(values) - 1.0) > 1e-6:
        raise ValueError(f"split fractions must sum to 1, got {sum(values):.6g}")
    if values[0] <= 0:
        raise ValueError("the train fraction must be positive")
    return values  # type: ignore[return-value]


def group_labels(labels: npt.NDArray[np.int64], groups: npt.NDArray[np.int64]) -> tuple[np.ndarray, np.ndarray]:
    """(unique sorted group ids, the majority label of each group; ties go to the smallest label)."""
    uniq_groups, group_idx = np.unique(groups, return_inverse=True)
    uniq_labels, label_idx = np.unique(labels, return_inverse=True)
    counts = np.zeros((len(uniq_groups), len(uniq_labels)), dtype=np.int64)
    np.add.at(counts, (group_idx, label_idx), 1)
    return uniq_groups, uniq_labels[np.argmax(counts, axis=1)]


def stratified_group_split(
    labels: npt.ArrayLike,
    groups: npt.ArrayLike,
    fractions: tuple[float, float, float] = (0.8, 0.1, 0.1),
    seed: int = 0,
) -> npt.NDArray[np.int8]:
    """Split index per row: 0 = train, 1 = val, 2 = test."""
    labels_arr = np.asarray(labels, dtype=np.int64)
    groups_arr = np.asarray(groups, dtype=np.int64)
    if labels_arr.shape != groups_arr.shape or labels_arr.ndim != 1:
        raise ValueError("labels and groups must be 1-d arrays of the same length")
    fr = np.asarray(validate_fractions(fractions))
    if labels_arr.size == 0:
        return np.zeros(0, dtype=np.int8)

    uniq_groups, glabels = group_labels(labels_arr, groups_arr)
    _, group_idx = np.unique(groups_arr, return_inverse=True)
    gsizes = np.bincount(group_idx, minlength=len(uniq_groups))
    boundaries = np.cumsum(fr)[:-1]  # e.g. [0.8, 0.9]
    gsplit = np.zeros(len(uniq_groups), dtype=np.int8)
    for label in np.unique(glabels):
        members = np.flatnonzero(glabels == label)  # already sorted by group id
        rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, int(label) & 0xFFFFFFFF])
        order = members[rng.permutation(len(members))]
        sizes = gsizes[order].astype(np.float64)
        ends = np.cumsum(sizes)
        midpoints = (ends - sizes / 2.0) / ends[-1]
        gsplit[order] = np.searchsorted(boundaries, midpoints, side="right").astype(np.int8)
    return gsplit[group_idx]
