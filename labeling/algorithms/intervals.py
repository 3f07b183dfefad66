"""Wilson score interval for a binomial proportion (Wilson 1927), vectorised.

Used for annotator accuracy on gold and for agreement rates: unlike the normal ("Wald") interval it stays
inside [0, 1] and is not degenerate at 0 or n successes, which is the common case for a new annotator who
has answered five gold items correctly.
"""

from __future__ import annotations

from statistics import NormalDist

import numpy as np


def wilson_interval(
    successes: int | np.ndarray, trials: int | np.ndarray, confidence: float = 0.95
) -> tuple[np.ndarray, np.ndarray]:
    """(low, high) of the two-sided Wilson score interval; (0, 1) where trials == 0 (nothing is known).

    centre = (p + z^2 / 2n) / (1 + z^2 / n),  half = z / (1 + z^2 / n) * sqrt(p (1 - p) / n + z^2 / 4n^2)
    """
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    s = np.asarray(successes, dtype=np.float64)
    n = np.asarray(trials, dtype=np.float64)
    if np.any(s < 0) or np.any(s > n):
        raise ValueError("need 0 <= successes <= trials")
    z = NormalDist().inv_cdf(0.5 + confidence / 2.0)
    safe_n = np.where(n > 0, n, 1.0)
    p = s / safe_n
    denom = 1.0 + z * z / safe_n
    centre = (p + z * z / (2.0 * safe_n)) / denom
    half = z / denom * np.sqrt(p * (1.0 - p) / safe_n + z * z / (4.0 * safe_n * safe_n))
    # Exact ends at 0 and n successes (the formula gives them only up to rounding).
    low = np.where((n > 0) & (s > 0), np.clip(centre - half, 0.0, 1.0), 0.0)
    high = np.where((n > 0) & (s < n), np.clip(centre + half, 0.0, 1.0), 1.0)
    return low, high


def beta_interval(
    mean: float | np.ndarray, strength: float | np.ndarray, confidence: float = 0.95
) -> tuple[np.ndarray, np.ndarray]:
    """Equal-tailed interval of Beta(mean * strength, (1 - mean) * strength), vectorised.

    `strength` = alpha + beta, the number of (pseudo-)observations behind `mean`; used for a Bayesian posterior
    of an accuracy, e.g. expected correct votes plus a prior's pseudo-votes. Means are kept inside (0, 1).
    """
    from scipy.special import betaincinv

    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    m = np.clip(np.asarray(mean, dtype=np.float64), 1e-9, 1.0 - 1e-9)
    n = np.maximum(np.asarray(strength, dtype=np.float64), 1e-9)
    tail = (1.0 - confidence) / 2.0
    return betaincinv(m * n, (1.0 - m) * n, tail), betaincinv(m * n, (1.0 - m) * n, 1.0 - tail)
