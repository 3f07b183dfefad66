"""Consensus of bounding boxes drawn by several annotators on one image (see boxes.md).

Boxes are (x, y, w, h) in pixels. Annotators are folded in one at a time: each annotator's boxes are matched
to the current clusters by maximum total IoU (Hungarian, scipy's linear_sum_assignment) against each cluster's
running median box, so an annotator contributes at most one box per object; a pair below `iou_threshold` is not
a match and the box opens a new cluster. Clusters supported by at least `quorum` annotators become objects;
the merged box is the per-coordinate median of its members (robust to one sloppy drawer), and agreement is the
mean IoU of members to their merged box. The loop runs over annotators (a handful per image), never over boxes.

Detection (boxes with a category each): `detection_consensus` runs the same clustering once per category, with
one quorum for all categories (a majority of the voters on the image), so a box only ever merges with boxes of
its own category and an object drawn under two categories splits its support between them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment


@dataclass(frozen=True)
class BoxConsensus:
    boxes: np.ndarray  # (n_objects, 4) merged (x, y, w, h), per-coordinate median of the members
    support: np.ndarray  # (n_objects,) int64 number of annotators who drew the object
    member_iou: np.ndarray  # (n_objects,) mean IoU of the members to the merged box
    assignment: np.ndarray  # (n_input_boxes,) index into boxes, or -1 for boxes left out (no quorum)
    agreement: float  # mean IoU over all members of all objects; 1.0 when nobody drew anything


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every box in a (n, 4) against every box in b (m, 4), boxes as (x, y, w, h) -> (n, m)."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    ax2, ay2 = a[:, 0] + a[:, 2], a[:, 1] + a[:, 3]
    bx2, by2 = b[:, 0] + b[:, 2], b[:, 1] + b[:, 3]
    iw = np.clip(np.minimum(ax2[:, None], bx2[None, :]) - np.maximum(a[:, None, 0], b[None, :, 0]), 0.0, None)
    ih = np.clip(np.minimum(ay2[:, None], by2[None, :]) - np.maximum(a[:, None, 1], b[None, :, 1]), 0.0, None)
    inter = iw * ih
    union = (a[:, 2] * a[:, 3])[:, None] + (b[:, 2] * b[:, 3])[None, :] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def box_consensus(
    boxes: np.ndarray,
    annotators: np.ndarray,
    *,
    iou_threshold: float = 0.5,
    quorum: int | None = None,
) -> BoxConsensus:
    """Merge boxes (n, 4) drawn by annotators (n,) on one image.

    quorum defaults to a strict majority of the annotators who submitted at least one box. Callers that also
    know of annotators who looked and drew nothing should pass quorum explicitly.
    """
    bx = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    who = np.asarray(annotators).reshape(-1)
    if who.size != bx.shape[0]:
        raise ValueError(f"{bx.shape[0]} boxes but {who.size} annotator ids")
    if bx.shape[0] == 0:
        empty = np.zeros((0, 4))
        return BoxConsensus(empty, np.zeros(0, np.int64), np.zeros(0), np.zeros(0, np.int64), 1.0)
    order, who_codes = np.unique(who, return_inverse=True)
    need = quorum if quorum is not None else math.floor(order.size / 2) + 1
    cluster_of = np.full(bx.shape[0], -1, dtype=np.int64)
    members: list[list[int]] = []
    centres = np.zeros((0, 4))
    for annotator in range(order.size):  # deterministic: annotators in sorted-id order, boxes in input order
        mine = np.flatnonzero(who_codes == annotator)
        matched = np.zeros(mine.size, dtype=bool)
        if centres.shape[0]:
            iou = iou_matrix(bx[mine], centres)
            rows, cols = linear_sum_assignment(iou, maximize=True)
            for r, c in zip(rows, cols, strict=True):
                if iou[r, c] >= iou_threshold:
                    members[c].append(int(mine[r]))
                    cluster_of[mine[r]] = c
                    matched[r] = True
        for r in np.flatnonzero(~matched):
            members.append([int(mine[r])])
            cluster_of[mine[r]] = len(members) - 1
        centres = np.stack([np.median(bx[m], axis=0) for m in members])
    support = np.array([len(m) for m in members], dtype=np.int64)
    kept = np.flatnonzero(support >= need)
    remap = np.full(len(members), -1, dtype=np.int64)
    remap[kept] = np.arange(kept.size)
    merged = centres[kept]
    member_iou = np.array([np.diag(iou_matrix(bx[members[c]], np.repeat(centres[c][None], support[c], 0))).mean()
                           for c in kept])  # fmt: skip
    total_members = support[kept].sum()
    agreement = float((member_iou * support[kept]).sum() / total_members) if total_members else 0.0
    return BoxConsensus(
        boxes=merged,
        support=support[kept],
        member_iou=member_iou.reshape(-1),
        assignment=remap[cluster_of],
        agreement=agreement,
    )


def boxes_agree(a: np.ndarray, b: np.ndarray, *, iou_threshold: float = 0.5) -> bool:
    """Whether two box sets (n, 4) and (m, 4) describe the same objects: as many boxes, and a one-to-one
    matching (maximum total IoU, Hungarian) in which every pair overlaps by at least `iou_threshold`.
    Used to tell a volunteer whether their boxes on a practice item were right."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    if a.shape[0] != b.shape[0]:
        return False
    if a.shape[0] == 0:
        return True
    iou = iou_matrix(a, b)
    rows, cols = linear_sum_assignment(-iou)
    return bool(np.all(iou[rows, cols] >= iou_threshold))


@dataclass(frozen=True)
class DetectionConsensus:
    boxes: np.ndarray  # (n_objects, 4) merged (x, y, w, h), objects grouped by category (ascending)
    categories: np.ndarray  # (n_objects,) int64 category of each object
    support: np.ndarray  # (n_objects,) int64 number of annotators who drew the object with that category
    member_iou: np.ndarray  # (n_objects,) mean IoU of the members to the merged box
    assignment: np.ndarray  # (n_input_boxes,) index into boxes, or -1 for boxes left out (no quorum)
    agreement: float  # mean IoU over all members of all objects; 1.0 when nobody drew anything


def detection_consensus(
    boxes: np.ndarray,
    categories: np.ndarray,
    annotators: np.ndarray,
    *,
    iou_threshold: float = 0.5,
    quorum: int | None = None,
) -> DetectionConsensus:
    """box_consensus per category group: boxes (n, 4) with categories (n,) drawn by annotators (n,).

    quorum defaults to a strict majority of the annotators who drew at least one box of any category (computed
    over all categories: a category drawn by fewer people must not get a smaller quorum)."""
    bx = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    cats = np.asarray(categories, dtype=np.int64).reshape(-1)
    who = np.asarray(annotators).reshape(-1)
    if not (cats.size == who.size == bx.shape[0]):
        raise ValueError(f"{bx.shape[0]} boxes, {cats.size} categories and {who.size} annotator ids")
    need = quorum if quorum is not None else math.floor(np.unique(who).size / 2) + 1
    assignment = np.full(bx.shape[0], -1, dtype=np.int64)
    parts: list[tuple[int, BoxConsensus]] = []
    offset = 0
    for category in np.unique(cats):  # ascending: deterministic object order
        mask = np.flatnonzero(cats == category)
        cons = box_consensus(bx[mask], who[mask], iou_threshold=iou_threshold, quorum=need)
        kept = cons.assignment >= 0
        assignment[mask[kept]] = cons.assignment[kept] + offset
        offset += cons.boxes.shape[0]
        parts.append((int(category), cons))
    support = np.concatenate([c.support for _, c in parts]) if parts else np.zeros(0, np.int64)
    member_iou = np.concatenate([c.member_iou for _, c in parts]) if parts else np.zeros(0)
    labels = [np.full(c.boxes.shape[0], k, np.int64) for k, c in parts]
    total = support.sum()
    return DetectionConsensus(
        boxes=np.concatenate([c.boxes for _, c in parts]).reshape(-1, 4) if parts else np.zeros((0, 4)),
        categories=np.concatenate(labels) if parts else np.zeros(0, np.int64),
        support=support.astype(np.int64),
        member_iou=member_iou,
        assignment=assignment,
        agreement=float((member_iou * support).sum() / total) if total else (1.0 if bx.shape[0] == 0 else 0.0),
    )


def detections_agree(
    a: np.ndarray, a_categories: np.ndarray, b: np.ndarray, b_categories: np.ndarray, *, iou_threshold: float = 0.5
) -> bool:
    """boxes_agree per category: the same categories, and within each the same objects."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    ac = np.asarray(a_categories, dtype=np.int64).reshape(-1)
    bc = np.asarray(b_categories, dtype=np.int64).reshape(-1)
    if a.shape[0] != b.shape[0] or not np.array_equal(np.sort(ac), np.sort(bc)):
        return False
    return all(boxes_agree(a[ac == c], b[bc == c], iou_threshold=iou_threshold) for c in np.unique(ac))


def box_set_iou(a: np.ndarray, b: np.ndarray) -> float:
    """How well two box sets (n, 4) and (m, 4) match: the total IoU of the best one-to-one matching (Hungarian)
    divided by max(n, m), so a missing or extra box counts as 0; 1.0 when both are empty. Used to score an
    annotator's boxes against the consensus (boxes on empty grass against a consensus of none give 0)."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    if a.shape[0] == 0 and b.shape[0] == 0:
        return 1.0
    if a.shape[0] == 0 or b.shape[0] == 0:
        return 0.0
    iou = iou_matrix(a, b)
    rows, cols = linear_sum_assignment(-iou)
    return float(iou[rows, cols].sum() / max(a.shape[0], b.shape[0]))
