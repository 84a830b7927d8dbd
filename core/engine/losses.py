"""Loss functions, each returning the mean loss and its gradient."""

from __future__ import annotations

import numpy as np


def softmax_cross_entropy(logits: np.ndarray, labels: np.ndarray) -> tuple[float, np.ndarray]:
    """Softmax followed by cross-entropy, fused so it cannot overflow.

    Parameters
    ----------
    logits
        ``(N, K)`` unnormalised class scores.
    labels
        ``(N,)`` class indices.

    Returns
    -------
    loss
        ``mean_n(logsumexp(logits_n) − logits_n[y_n])``.
    grad
        ``(N, K)``: ``(softmax(logits) − onehot(y)) / N``.
    """
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    sums = exp.sum(axis=1, keepdims=True)
    rows = np.arange(len(labels))
    loss = float(np.mean(np.log(sums[:, 0]) - shifted[rows, labels]))
    grad = exp / sums
    grad[rows, labels] -= 1
    grad /= len(labels)
    return loss, grad


def mean_squared_error(outputs: np.ndarray, labels: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean over all elements of ``(outputs − onehot(labels))²``; outputs ``(N, K)``."""
    targets = np.zeros_like(outputs)
    targets[np.arange(len(labels)), labels] = 1
    diff = outputs - targets
    return float(np.mean(diff * diff)), diff * (2.0 / diff.size)


LOSSES = {"cross_entropy": softmax_cross_entropy, "mse": mean_squared_error}
