"""Classification metrics as pure numpy functions over a confusion matrix.

Convention: `cm[i, j]` counts samples of true class i predicted as class j. Everything derives from the
matrix, so distributed evaluation only needs to sum matrices across ranks. Divisions by zero give 0,
as sklearn does with `zero_division=0`; macro averages run over the classes that occur in the truth or
the predictions (sklearn's default label set), so a class absent from a split does not count as F1 = 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]


def confusion_matrix(y_true: npt.ArrayLike, y_pred: npt.ArrayLike, num_classes: int) -> IntArray:
    """(K, K) int64 counts from integer label vectors."""
    t = np.asarray(y_true, dtype=np.int64).ravel()
    p = np.asarray(y_pred, dtype=np.int64).ravel()
    if t.shape != p.shape:
        raise ValueError("y_true and y_pred differ in length")
    if t.size and (min(t.min(), p.min()) < 0 or max(t.max(), p.max()) >= num_classes):
        raise ValueError("labels out of range")
    return np.bincount(t * num_classes + p, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def _safe_div(num: npt.NDArray[Any], den: npt.NDArray[Any]) -> FloatArray:
    num = np.asarray(num, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    return np.divide(num, den, out=np.zeros_like(num), where=den != 0)


def accuracy(cm: npt.ArrayLike) -> float:
    m = np.asarray(cm)
    total = m.sum()
    return float(np.trace(m) / total) if total else 0.0


def precision_recall_f1(cm: npt.ArrayLike) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Per-class precision (column-wise), recall (row-wise) and F1, each shape (K,)."""
    m = np.asarray(cm, dtype=np.float64)
    tp = np.diag(m)
    precision = _safe_div(tp, m.sum(axis=0))
    recall = _safe_div(tp, m.sum(axis=1))
    f1 = _safe_div(2 * precision * recall, precision + recall)
    return precision, recall, f1


def present_classes(cm: npt.ArrayLike) -> npt.NDArray[np.bool_]:
    """Classes with support or with at least one prediction."""
    m = np.asarray(cm)
    return (m.sum(axis=0) + m.sum(axis=1)) > 0


def macro_f1(cm: npt.ArrayLike) -> float:
    _, _, f1 = precision_recall_f1(cm)
    mask = present_classes(cm)
    return float(f1[mask].mean()) if mask.any() else 0.0


def top_k_correct(scores: npt.ArrayLike, y_true: npt.ArrayLike, k: int) -> int:
    """How many rows have the true class among their k highest scores (ties broken by argpartition)."""
    s = np.asarray(scores)
    t = np.asarray(y_true, dtype=np.int64).ravel()
    k = min(k, s.shape[1])
    top = np.argpartition(-s, k - 1, axis=1)[:, :k]
    return int((top == t[:, None]).any(axis=1).sum())


def classification_report(
    cm: npt.ArrayLike, class_names: Sequence[str], top5_correct: int | None = None
) -> dict[str, Any]:
    """JSON-ready summary: accuracy, top5 (when K > 5 and counted), macro F1, per-class P/R/F1/support,
    the confusion matrix as nested lists and the class names."""
    m = np.asarray(cm, dtype=np.int64)
    if m.shape != (len(class_names), len(class_names)):
        raise ValueError("confusion matrix does not match the class list")
    precision, recall, f1 = precision_recall_f1(m)
    support = m.sum(axis=1)
    total = int(m.sum())
    return {
        "accuracy": accuracy(m),
        "top5": (top5_correct / total if total else 0.0) if top5_correct is not None and len(class_names) > 5 else None,
        "macro_f1": macro_f1(m),
        "num_samples": total,
        "per_class": [
            {
                "class": name,
                "precision": float(precision[i]),
                "recall": float(recall[i]),
                "f1": float(f1[i]),
                "support": int(support[i]),
            }
            for i, name in enumerate(class_names)
        ],
        "confusion_matrix": m.tolist(),
        "classes": list(class_names),
    }


MAX_MISTAKES = 500


def misclassified(split: Any, predicted: np.ndarray | None, confidence: np.ndarray | None) -> list[dict[str, Any]]:
    """[{"path" (relative to the data root), "true", "predicted", "confidence"}] for wrong predictions."""
    if predicted is None or confidence is None:
        return []
    out = [
        {"path": Path(path).relative_to(split.root).as_posix(), "true": int(target), "predicted": int(p),
         "confidence": round(float(c), 4)}
        for (path, target), p, c in zip(split.samples, predicted, confidence, strict=True)
        if int(p) != int(target)
    ]  # fmt: skip
    out.sort(key=lambda m: -m["confidence"])
    return out[:MAX_MISTAKES]
