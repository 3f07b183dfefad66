"""The colour check that confirms a perceptual-hash near-duplicate.

pHash (64 bits: the signs of the 8x8 lowest DCT frequencies of a 32x32 grayscale image, against their median)
carries little information about small, simple pictures: two different triangles in similar places, or two
flat images of equal brightness, often share a hash. A resized or re-encoded copy, on the other hand, keeps
its coarse colour layout. So a pHash hit counts only when the two images, reduced to 16x16 RGB, differ by a
small mean absolute value. Measured on generated shapes (tests/labeling/ingest/test_ingest_near_dup_gate.py):
different shapes within pHash radius 8 differ by 33 or more; resized, JPEG/WebP re-encoded copies by 8 or less.
"""

from __future__ import annotations

import numpy as np

SIGNATURE_SIDE = 16


def colour_difference(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute difference of two SIGNATURE_SIDE x SIGNATURE_SIDE x 3 arrays (0 = equal, 255 = opposite)."""
    return float(np.abs(np.asarray(a, dtype=np.float32) - np.asarray(b, dtype=np.float32)).mean())
