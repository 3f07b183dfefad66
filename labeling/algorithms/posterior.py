"""Item posteriors from known worker confusion matrices, without re-running EM (see posterior.md).

The adaptive-redundancy engine calls this after every submission: the worker confusion matrices and class
priors come from the last full aggregation (`AggregationResult.worker_confusion` / `.class_priors`), and the
item's votes are scored against them. This is exactly one Dawid-Skene E-step restricted to the given items,
computed in log space so that dozens of confident votes cannot underflow.

Workers absent from the last aggregation have no row in `confusion`; give them one, e.g. with
`symmetric_confusion(accuracy, n_classes)`, before calling.
"""

from __future__ import annotations

import numpy as np

PROB_FLOOR = 1e-10  # same floor as the aggregation E-step, so online and batch posteriors agree exactly


def _log(values: np.ndarray) -> np.ndarray:
    return np.log(np.maximum(values, PROB_FLOOR))


def _log_posterior(posterior: np.ndarray) -> np.ndarray:
    # A tiny floor only: flooring an already-computed posterior at PROB_FLOOR would distort confident items.
    return np.log(np.maximum(np.asarray(posterior, dtype=np.float64), 1e-300))


def _softmax_rows(log_joint: np.ndarray) -> np.ndarray:
    shifted = log_joint - log_joint.max(axis=-1, keepdims=True)
    weights = np.exp(shifted)
    return weights / weights.sum(axis=-1, keepdims=True)


def symmetric_confusion(accuracy: float | np.ndarray, n_classes: int) -> np.ndarray:
    """Confusion of a worker (or workers) right with probability `accuracy`, errors spread evenly.

    Scalar accuracy -> (K, K); array of shape (n,) -> (n, K, K).
    """
    acc = np.asarray(accuracy, dtype=np.float64)
    off = (1.0 - acc) / max(n_classes - 1, 1)
    eye = np.eye(n_classes)
    return off[..., None, None] * (1.0 - eye) + acc[..., None, None] * eye


def _check_temperature(temperature: float) -> float:
    tau = float(temperature)
    if not 0.0 < tau <= 1.0:
        raise ValueError(f"temperature must be in (0, 1], got {temperature}")
    return tau


def item_posterior(
    workers: np.ndarray,
    labels: np.ndarray,
    confusion: np.ndarray,
    class_priors: np.ndarray,
    temperature: float = 1.0,
) -> np.ndarray:
    """Posterior (K,) of one item given its votes: workers[j] gave labels[j]; confusion is (n_workers, K, K).

    temperature: exponent on the summed worker log-likelihoods (the prior is not tempered); use the
    `AggregationResult.temperature` of the aggregation the confusion matrices come from. 1.0 = plain Bayes.
    """
    tau = _check_temperature(temperature)
    w = np.asarray(workers, dtype=np.int64)
    lb = np.asarray(labels, dtype=np.int64)
    log_lik = _log(confusion[w, :, lb]).sum(axis=0)
    if tau != 1.0:
        log_lik *= tau
    log_joint = _log(np.asarray(class_priors, dtype=np.float64)) + log_lik
    return _softmax_rows(log_joint)


def add_vote(posterior: np.ndarray, worker_confusion: np.ndarray, label: int, temperature: float = 1.0) -> np.ndarray:
    """Fold one more vote into a posterior: p(k) <- p(k) * conf[k, label] ** temperature, renormalised.

    Equal to `item_posterior` on all votes (up to rounding) because votes are independent given the class.
    """
    tau = _check_temperature(temperature)
    log_lik = _log(worker_confusion[:, int(label)])
    log_joint = _log_posterior(posterior) + (log_lik if tau == 1.0 else tau * log_lik)
    return _softmax_rows(log_joint)


def batch_posteriors(
    items: np.ndarray,
    workers: np.ndarray,
    labels: np.ndarray,
    confusion: np.ndarray,
    class_priors: np.ndarray,
    *,
    n_items: int | None = None,
    temperature: float = 1.0,
) -> np.ndarray:
    """Posteriors (n_items, K) of many items at once; items without votes get the class priors.

    temperature: as in `item_posterior`.
    """
    tau = _check_temperature(temperature)
    it = np.asarray(items, dtype=np.int64)
    w = np.asarray(workers, dtype=np.int64)
    lb = np.asarray(labels, dtype=np.int64)
    k = confusion.shape[-1]
    n = int(it.max()) + 1 if n_items is None and it.size else int(n_items or 0)
    per_vote = _log(confusion[w, :, lb])  # (n_votes, K)
    # One bincount per class: K vectorised passes instead of a Python loop over items.
    log_joint = np.stack([np.bincount(it, weights=per_vote[:, c], minlength=n) for c in range(k)], axis=1)
    if tau != 1.0:
        log_joint *= tau
    log_joint += _log(np.asarray(class_priors, dtype=np.float64))
    return _softmax_rows(log_joint)


def posterior_with_extra_voter(
    posterior: np.ndarray, class_probs: np.ndarray, confusion: np.ndarray, max_weight: float = 1.0
) -> np.ndarray:
    """Fold in a bounded non-human voter, typically a classifier, and return the new posterior.

    posterior:   (K,) or (n, K) current posterior from the human votes.
    class_probs: (K,) or (n, K) the model's predicted class distribution for the item(s).
    confusion:   (K, K) the model's confusion on held-out gold, row = true class, col = predicted class.
    max_weight:  bound in nats on how far the model may move the log-odds between any two classes; a worker
                 with accuracy a on K classes moves them by log(a (K-1) / (1-a)), e.g. 2.2 for a = .9, K = 2.

    The model's likelihood for true class k is its expected confusion cell sum_l class_probs[l] * conf[k, l].
    A model is not an independent worker (it may share the crowd's blind spots, and it was trained on our own
    labels), so its log-likelihood vector is tempered, never amplified, until its spread is at most max_weight.
    """
    probs = np.asarray(class_probs, dtype=np.float64)
    conf = np.asarray(confusion, dtype=np.float64)
    conf = conf / conf.sum(axis=1, keepdims=True)
    log_lik = _log(probs @ conf.T)  # (…, K): likelihood of the model's output under each true class
    spread = log_lik.max(axis=-1, keepdims=True) - log_lik.min(axis=-1, keepdims=True)
    scale = np.minimum(1.0, max(float(max_weight), 0.0) / np.maximum(spread, 1e-300))
    return _softmax_rows(_log_posterior(posterior) + scale * log_lik)
