"""Evaluation figures of a classifier: confusion matrix, per-class accuracy, worst mistakes.

>>> import numpy as np
>>> confusion_matrix(np.array([0, 1, 1]), np.array([0, 0, 1]), 2)
array([[1, 0],
       [1, 1]])
"""

from __future__ import annotations

import numbers

import numpy as np


def _labels(name: str, values: object) -> np.ndarray:
    """``values`` as a 1-D int64 array; raises ValueError when they are not whole-number labels."""
    array = np.asarray(values)
    if array.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {array.shape}")
    if array.dtype.kind in "iu" or array.dtype == bool:
        return array.astype(np.int64, copy=False)
    if array.size == 0:
        return array.astype(np.int64)
    if array.dtype.kind == "f" and np.isfinite(array).all() and (array == np.round(array)).all():
        return array.astype(np.int64)
    raise ValueError(f"{name} must hold whole-number class indices, got {array.dtype} values")


def _paired(y_true: object, y_pred: object) -> tuple[np.ndarray, np.ndarray]:
    true, pred = _labels("y_true", y_true), _labels("y_pred", y_pred)
    if len(true) != len(pred):
        raise ValueError(f"y_true holds {len(true)} labels but y_pred holds {len(pred)}")
    return true, pred


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> np.ndarray:
    """Count each (true class, predicted class) pair.

    Parameters
    ----------
    y_true
        ``(N,)`` integer class indices in ``0 .. num_classes - 1``.
    y_pred
        ``(N,)`` predicted class indices, same range.
    num_classes
        ``K``, the number of classes (some may have no samples).

    Returns
    -------
    np.ndarray
        ``(K, K)`` int64; ``matrix[t, p]`` counts samples of class ``t`` predicted as ``p``.
        Rows sum to the class sizes, the trace is the number of correct predictions.

    Raises
    ------
    ValueError
        When the arrays are not 1-D whole-number labels of equal length, ``num_classes``
        is not a positive integer, or a label lies outside ``0 .. K - 1``.
    """
    if isinstance(num_classes, bool) or not isinstance(num_classes, numbers.Integral) or num_classes < 1:
        raise ValueError(f"num_classes must be a positive integer, got {num_classes!r}")
    k = int(num_classes)
    true, pred = _paired(y_true, y_pred)
    for name, labels in (("y_true", true), ("y_pred", pred)):
        if labels.size and (labels.min() < 0 or labels.max() >= k):
            raise ValueError(
                f"{name} holds labels {int(labels.min())}..{int(labels.max())}; they must lie in 0..{k - 1}"
            )
    # One bincount over the flattened (true, predicted) index is much faster than np.add.at.
    return np.bincount(true * k + pred, minlength=k * k).astype(np.int64).reshape(k, k)


def misclassified(y_true: np.ndarray, y_pred: np.ndarray, confidence: np.ndarray) -> np.ndarray:
    """Indices of the wrong predictions, the most confident mistakes first.

    Parameters
    ----------
    y_true, y_pred
        ``(N,)`` true and predicted class indices.
    confidence
        ``(N,)`` the model's confidence in each prediction, e.g. the probability of
        the predicted class.

    Returns
    -------
    np.ndarray
        ``(M,)`` int64 indices where ``y_true != y_pred``, by decreasing confidence;
        equal confidences keep their index order. NaN confidences come last.

    Raises
    ------
    ValueError
        When the three arrays are not 1-D of one length.
    """
    true, pred = _paired(y_true, y_pred)
    confidence = np.asarray(confidence, dtype=np.float64)
    if confidence.ndim != 1 or len(confidence) != len(true):
        raise ValueError(f"confidence must have shape ({len(true)},), got {confidence.shape}")
    wrong = np.flatnonzero(true != pred)
    # Sorting the negated values puts the largest first; NaN sorts last either way.
    order = np.argsort(-confidence[wrong], kind="stable")
    return wrong[order].astype(np.int64)


def per_class_accuracy(matrix: np.ndarray) -> np.ndarray:
    """Share of each class's samples predicted correctly (recall).

    Parameters
    ----------
    matrix
        ``(K, K)`` confusion matrix, rows true classes, columns predictions.

    Returns
    -------
    np.ndarray
        ``(K,)`` float64 in ``[0, 1]``; NaN for classes without samples.

    Raises
    ------
    ValueError
        When ``matrix`` is not square and two-dimensional or holds negative counts.
    """
    matrix = np.asarray(matrix)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
        raise ValueError(f"the confusion matrix must be square (K, K), got shape {matrix.shape}")
    if matrix.dtype.kind not in "iuf" or (matrix.size and np.min(matrix) < 0):
        raise ValueError("the confusion matrix must hold non-negative counts")
    totals = matrix.sum(axis=1).astype(np.float64)
    correct = np.diagonal(matrix).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(totals > 0, correct / np.where(totals > 0, totals, 1.0), np.nan)
