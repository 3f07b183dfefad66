"""Metrics against hand-computed values on a fixed 3x3 confusion matrix."""

from __future__ import annotations

import numpy as np
import pytest

from training.ml.metrics import (
    accuracy,
    classification_report,
    confusion_matrix,
    macro_f1,
    precision_recall_f1,
    top_k_correct,
)

# rows = truth, columns = prediction
CM = np.array([[5, 1, 0], [2, 3, 1], [0, 0, 4]])


def test_accuracy_precision_recall_f1_by_hand() -> None:
    assert accuracy(CM) == pytest.approx(12 / 16)
    precision, recall, f1 = precision_recall_f1(CM)
    np.testing.assert_allclose(precision, [5 / 7, 3 / 4, 4 / 5])
    np.testing.assert_allclose(recall, [5 / 6, 3 / 6, 4 / 4])
    np.testing.assert_allclose(f1, [10 / 13, 0.6, 8 / 9])
    assert macro_f1(CM) == pytest.approx((10 / 13 + 0.6 + 8 / 9) / 3)


def test_confusion_matrix_from_labels_round_trips() -> None:
    y_true = np.repeat([0, 1, 2], CM.sum(axis=1))
    y_pred = np.concatenate([np.repeat(np.arange(3), row) for row in CM])
    np.testing.assert_array_equal(confusion_matrix(y_true, y_pred, 3), CM)
    with pytest.raises(ValueError):
        confusion_matrix([0, 3], [0, 1], 3)


def test_absent_class_is_left_out_of_macro_average_and_zero_division_is_zero() -> None:
    cm4 = np.zeros((4, 4), dtype=np.int64)
    cm4[:3, :3] = CM
    assert macro_f1(cm4) == pytest.approx(macro_f1(CM))
    p, r, f = precision_recall_f1(cm4)
    assert p[3] == r[3] == f[3] == 0.0
    assert accuracy(np.zeros((2, 2))) == 0.0


def test_matches_sklearn() -> None:
    from sklearn import metrics as sk

    rng = np.random.default_rng(0)
    y_true, y_pred = rng.integers(0, 7, 500), rng.integers(0, 7, 500)
    cm = confusion_matrix(y_true, y_pred, 7)
    np.testing.assert_array_equal(cm, sk.confusion_matrix(y_true, y_pred, labels=range(7)))
    assert macro_f1(cm) == pytest.approx(sk.f1_score(y_true, y_pred, average="macro"))
    scores = rng.random((500, 7))
    assert top_k_correct(scores, y_true, 5) / 500 == pytest.approx(sk.top_k_accuracy_score(y_true, scores, k=5))


def test_top_k_and_report() -> None:
    scores = np.array([[0.1, 0.7, 0.2], [0.5, 0.3, 0.2], [0.2, 0.3, 0.5]])
    assert top_k_correct(scores, [2, 0, 1], 1) == 1
    assert top_k_correct(scores, [2, 0, 1], 2) == 3
    report = classification_report(CM, ["a", "b", "c"], top5_correct=16)
    assert report["top5"] is None  # only reported when K > 5
    assert report["accuracy"] == pytest.approx(0.75)
    assert report["confusion_matrix"] == CM.tolist()
    assert [c["support"] for c in report["per_class"]] == [6, 6, 4]
    assert report["per_class"][1]["f1"] == pytest.approx(0.6)
    assert classification_report(np.eye(6, dtype=int), list("abcdef"), top5_correct=6)["top5"] == 1.0
