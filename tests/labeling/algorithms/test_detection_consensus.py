"""Detection consensus: boxes clustered per category (labeling.algorithms.boxes), without Django."""

from __future__ import annotations

import numpy as np
import pytest

from labeling.algorithms.boxes import box_consensus, detection_consensus, detections_agree

CAR, DOG = 7, 3


def test_same_place_two_categories_are_two_objects() -> None:
    # Three annotators draw a car and a dog that overlap heavily: single-class consensus would merge each
    # annotator's two boxes into clusters by IoU alone; per category they stay apart.
    boxes = np.array([
        [10, 10, 50, 50], [14, 12, 50, 50],   # a: car, dog
        [11, 10, 50, 50], [13, 12, 50, 50],   # b: car, dog
        [10, 11, 50, 50], [15, 12, 49, 50],   # c: car, dog
    ])  # fmt: skip
    cats = np.array([CAR, DOG, CAR, DOG, CAR, DOG])
    who = np.array(["a", "a", "b", "b", "c", "c"])
    result = detection_consensus(boxes, cats, who)
    assert result.categories.tolist() == [DOG, CAR]  # ascending category id
    assert result.support.tolist() == [3, 3]
    np.testing.assert_array_equal(result.boxes[0], np.median(boxes[[1, 3, 5]], axis=0))
    np.testing.assert_array_equal(result.boxes[1], np.median(boxes[[0, 2, 4]], axis=0))
    assert result.assignment.tolist() == [1, 0, 1, 0, 1, 0]
    assert 0.9 < result.agreement <= 1.0


def test_a_box_under_another_category_has_no_quorum() -> None:
    # b calls the object a dog where a and c say car: the car keeps a majority (2 of 3), b's dog box is left out.
    boxes = np.array([[10, 10, 50, 50], [11, 10, 50, 50], [10, 11, 50, 50]])
    cats = np.array([CAR, DOG, CAR])
    who = np.array(["a", "b", "c"])
    result = detection_consensus(boxes, cats, who)
    assert result.categories.tolist() == [CAR] and result.support.tolist() == [2]
    assert result.assignment.tolist() == [0, -1, 0]
    # Single-class consensus of the same boxes would have counted all three.
    assert box_consensus(boxes, who).support.tolist() == [3]


def test_quorum_is_shared_across_categories() -> None:
    # Four voters; only two drew anything, each a dog. The default quorum is a majority of those who drew
    # (2 of 2): kept. With the voters who drew nothing counted (quorum 3) the dog has no quorum.
    boxes = np.array([[0, 0, 20, 20], [1, 0, 20, 20]])
    cats = np.array([DOG, DOG])
    who = np.array([1, 2])
    assert detection_consensus(boxes, cats, who).support.tolist() == [2]
    strict = detection_consensus(boxes, cats, who, quorum=3)
    assert strict.boxes.shape == (0, 4) and strict.assignment.tolist() == [-1, -1] and strict.agreement == 0.0


def test_nothing_drawn() -> None:
    result = detection_consensus(np.zeros((0, 4)), np.zeros(0), np.zeros(0), quorum=2)
    assert result.boxes.shape == (0, 4) and result.categories.size == 0 and result.agreement == 1.0


def test_matches_single_class_consensus_within_one_category() -> None:
    rng = np.random.default_rng(0)
    base = rng.uniform(0, 300, size=(4, 2))
    boxes, who = [], []
    for annotator in range(5):
        for x, y in base:
            boxes.append([x + rng.normal(0, 2), y + rng.normal(0, 2), 40 + rng.normal(0, 2), 30 + rng.normal(0, 2)])
            who.append(annotator)
    boxes_a, who_a = np.array(boxes), np.array(who)
    single = box_consensus(boxes_a, who_a)
    det = detection_consensus(boxes_a, np.full(len(who), CAR), who_a)
    np.testing.assert_array_equal(det.boxes, single.boxes)
    np.testing.assert_array_equal(det.assignment, single.assignment)
    assert det.agreement == pytest.approx(single.agreement)


def test_detections_agree_needs_the_same_categories() -> None:
    a = np.array([[10, 10, 50, 50], [100, 100, 20, 20]])
    b = np.array([[101, 99, 20, 20], [11, 10, 50, 50]])
    assert detections_agree(a, [CAR, DOG], b, [DOG, CAR])
    assert not detections_agree(a, [CAR, DOG], b, [CAR, DOG])  # right places, swapped categories
    assert not detections_agree(a, [CAR, DOG], b[:1], [DOG])
    assert detections_agree(np.zeros((0, 4)), [], np.zeros((0, 4)), [])


def test_mismatched_lengths_raise() -> None:
    with pytest.raises(ValueError):
        detection_consensus(np.zeros((2, 4)), np.zeros(1), np.zeros(2))
