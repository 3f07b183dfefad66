"""Bounding-box consensus: IoU matrix and clustering across annotators."""

from __future__ import annotations

import numpy as np
import pytest

from labeling.algorithms.boxes import box_consensus, iou_matrix


def test_iou_matrix_values() -> None:
    a = np.array([[0, 0, 10, 10], [100, 100, 5, 5]])
    b = np.array([[5, 0, 10, 10], [0, 0, 10, 10], [50, 50, 1, 1]])
    iou = iou_matrix(a, b)
    assert iou.shape == (2, 3)
    assert iou[0, 0] == pytest.approx(50 / 150)
    assert iou[0, 1] == pytest.approx(1.0)
    assert iou[1].tolist() == [0.0, 0.0, 0.0]
    assert iou_matrix(np.array([[0, 0, 0, 0]]), np.array([[0, 0, 0, 0]]))[0, 0] == 0.0  # degenerate: no NaN


def test_three_annotators_two_objects_and_an_outlier() -> None:
    boxes = np.array([
        [10, 10, 50, 50], [200, 200, 40, 60],   # annotator a
        [12, 9, 48, 52], [198, 203, 42, 58],    # annotator b
        [11, 11, 50, 49], [201, 199, 41, 61],   # annotator c
        [400, 20, 30, 30],                      # annotator c's outlier, nobody else saw it
    ])  # fmt: skip
    who = np.array(["a", "a", "b", "b", "c", "c", "c"])
    result = box_consensus(boxes, who)
    assert result.boxes.shape == (2, 4)
    np.testing.assert_array_equal(result.boxes[0], np.median(boxes[[0, 2, 4]], axis=0))
    np.testing.assert_array_equal(result.boxes[1], np.median(boxes[[1, 3, 5]], axis=0))
    np.testing.assert_array_equal(result.boxes, [[11, 10, 50, 50], [200, 200, 41, 60]])
    assert result.support.tolist() == [3, 3]
    assert result.assignment.tolist() == [0, 1, 0, 1, 0, 1, -1]
    assert 0.9 < result.agreement < 1.0
    expected = np.mean([iou_matrix(boxes[i], result.boxes[i % 2])[0, 0] for i in range(6)])
    assert result.agreement == pytest.approx(expected)


def test_quorum_and_one_box_per_annotator_per_object() -> None:
    # Annotator a draws two overlapping boxes on one object: only one of them may join its cluster.
    boxes = np.array([[0, 0, 10, 10], [1, 1, 10, 10], [0, 0, 10, 11]])
    who = np.array([1, 1, 2])
    result = box_consensus(boxes, who, quorum=2)
    assert result.support.tolist() == [2]
    assert (result.assignment == -1).sum() == 1
    assert box_consensus(boxes, who, quorum=3).boxes.shape == (0, 4)


def test_no_boxes_at_all_is_full_agreement() -> None:
    result = box_consensus(np.zeros((0, 4)), np.array([]))
    assert result.boxes.shape == (0, 4) and result.agreement == 1.0
