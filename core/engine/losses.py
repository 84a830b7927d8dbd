"""Loss functions, each returning the mean loss and its gradient."""

from __future__ import annotations

import numpy as np

from core.errors import LayerwiseError


def softmax_cross_entropy(
    logits: np.ndarray,
    labels: np.ndarray,
    *,
    label_smoothing: float = 0.0,
    class_weights: np.ndarray | None = None,
) -> tuple[float, np.ndarray]:
    """Softmax followed by cross-entropy, fused so it cannot overflow; as ``F.cross_entropy``.

    Parameters
    ----------
    logits
        ``(N, K)`` unnormalised class scores.
    labels
        ``(N,)`` class indices.
    label_smoothing
        ``ε`` in [0, 1): the target is ``(1 − ε)·onehot(y) + ε/K``.
    class_weights
        ``(K,)`` weights ``w``, or ``None`` for all 1.

    Returns
    -------
    loss
        ``Σ_n l_n / Σ_n w_{y_n}`` with ``l_n = (1 − ε)·w_{y_n}·(−log p_{n,y_n}) + ε/K·Σ_k w_k·(−log p_{nk})``
        (PyTorch's weighted mean; ``mean_n(−log p_{n,y_n})`` with neither).
    grad
        ``(N, K)``: ``(p_n·Σ_k q_{nk} − q_n) / Σ_n w_{y_n}``, where ``q_n`` is row n's weighted target
        ``(1 − ε)·w_{y_n}·onehot(y_n) + ε/K·w``.
    """
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    sums = exp.sum(axis=1, keepdims=True)
    rows = np.arange(len(labels))
    if not label_smoothing and class_weights is None:
        loss = float(np.mean(np.log(sums[:, 0]) - shifted[rows, labels]))
        grad = exp / sums
        grad[rows, labels] -= 1
        grad /= len(labels)
        return loss, grad
    classes = logits.shape[1]
    weights = np.ones(classes) if class_weights is None else np.asarray(class_weights, dtype=np.float64)
    targets = np.zeros(logits.shape)
    targets[rows, labels] = (1 - label_smoothing) * weights[labels]
    targets += (label_smoothing / classes) * weights
    log_p = shifted - np.log(sums)
    total = float(weights[labels].sum())
    loss = float(-(targets * log_p).sum() / total)
    grad = (exp / sums) * targets.sum(axis=1, keepdims=True) - targets
    grad /= total
    return loss, grad.astype(logits.dtype, copy=False)


def balanced_class_weights(labels: np.ndarray, classes: int) -> np.ndarray:
    """``n / (K · count_c)`` per class (scikit-learn's "balanced"), ``(K,)`` from ``(n,)`` labels.

    Raises
    ------
    LayerwiseError
        When a class has no sample (its weight would be infinite), naming it.
    """
    counts = np.bincount(labels, minlength=classes)
    if (counts == 0).any():
        missing = int(np.flatnonzero(counts == 0)[0])
        raise LayerwiseError(
            f"class_weights 'balanced' needs every class in the training data; class {missing} has no sample"
        )
    return len(labels) / (classes * counts.astype(np.float64))


def mean_squared_error(outputs: np.ndarray, labels: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean over all elements of ``(outputs − onehot(labels))²``; outputs ``(N, K)``."""
    targets = np.zeros_like(outputs)
    targets[np.arange(len(labels)), labels] = 1
    diff = outputs - targets
    return float(np.mean(diff * diff)), diff * (2.0 / diff.size)


LOSSES = {"cross_entropy": softmax_cross_entropy, "mse": mean_squared_error}
