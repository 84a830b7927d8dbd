"""Classifier metrics: confusion matrix, misclassified samples, per-class accuracy against brute force."""

from __future__ import annotations

import numpy as np
import pytest

from core.training.metrics import confusion_matrix, misclassified, per_class_accuracy


def random_labels(n: int, k: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.integers(0, k, n), rng.integers(0, k, n)


def brute_confusion(y_true: np.ndarray, y_pred: np.ndarray, k: int) -> np.ndarray:
    matrix = np.zeros((k, k), dtype=np.int64)
    for t, p in zip(y_true, y_pred):
        matrix[t, p] += 1
    return matrix


# -- confusion_matrix ---------------------------------------------------------------


@pytest.mark.parametrize(("n", "k", "seed"), [(1, 1, 0), (50, 2, 1), (1000, 10, 2), (300, 100, 3)])
def test_confusion_matrix_matches_a_loop(n, k, seed):
    y_true, y_pred = random_labels(n, k, seed)
    matrix = confusion_matrix(y_true, y_pred, k)
    assert matrix.dtype == np.int64
    assert matrix.shape == (k, k)
    np.testing.assert_array_equal(matrix, brute_confusion(y_true, y_pred, k))
    assert matrix.sum() == n
    np.testing.assert_array_equal(matrix.sum(axis=1), np.bincount(y_true, minlength=k))
    np.testing.assert_array_equal(matrix.sum(axis=0), np.bincount(y_pred, minlength=k))


def test_rows_are_true_classes_and_columns_predictions():
    matrix = confusion_matrix(np.array([2, 2, 0]), np.array([1, 1, 0]), 3)
    assert matrix[2, 1] == 2
    assert matrix[1, 2] == 0
    assert matrix[0, 0] == 1


def test_classes_without_samples_give_zero_rows_and_columns():
    matrix = confusion_matrix(np.array([0, 0]), np.array([0, 0]), 4)
    assert matrix.shape == (4, 4)
    assert matrix[0, 0] == 2
    assert matrix.sum() == 2


def test_empty_labels_give_zeros():
    matrix = confusion_matrix(np.array([], dtype=np.int64), np.array([], dtype=np.int64), 3)
    np.testing.assert_array_equal(matrix, np.zeros((3, 3), dtype=np.int64))


def test_whole_number_floats_and_small_int_types_are_accepted():
    matrix = confusion_matrix(np.array([0.0, 1.0]), np.array([1, 1], dtype=np.uint8), 2)
    np.testing.assert_array_equal(matrix, [[0, 1], [0, 1]])


@pytest.mark.parametrize(
    ("y_true", "y_pred", "k", "message"),
    [
        ([0, 1], [0], 2, "2 labels but y_pred holds 1"),
        ([[0, 1]], [[0, 1]], 2, "one-dimensional"),
        ([0, 2], [0, 1], 2, "y_true holds labels 0..2; they must lie in 0..1"),
        ([0, 1], [-1, 1], 2, "y_pred holds labels -1..1"),
        ([0.5, 1], [0, 1], 2, "whole-number"),
        ([0, 1], [0, 1], 0, "positive integer"),
        ([0, 1], [0, 1], 2.0, "positive integer"),
        ([0, 1], [0, 1], True, "positive integer"),
        (["a"], [0], 2, "whole-number"),
    ],
)
def test_confusion_matrix_rejects_bad_input(y_true, y_pred, k, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(".", r"\.")):
        confusion_matrix(np.array(y_true), np.array(y_pred), k)


# -- misclassified ------------------------------------------------------------------


def test_misclassified_matches_a_sort_of_the_mistakes():
    y_true, y_pred = random_labels(500, 5, 7)
    confidence = np.random.default_rng(8).uniform(size=500)
    indices = misclassified(y_true, y_pred, confidence)
    wrong = [i for i in range(500) if y_true[i] != y_pred[i]]
    assert sorted(indices.tolist()) == wrong
    assert indices.dtype == np.int64
    assert np.all(np.diff(confidence[indices]) <= 0)


def test_misclassified_ties_keep_index_order_and_nan_comes_last():
    y_true = np.array([0, 0, 0, 0, 1])
    y_pred = np.array([1, 1, 1, 1, 1])
    confidence = np.array([0.5, np.nan, 0.9, 0.5, 1.0])
    assert misclassified(y_true, y_pred, confidence).tolist() == [2, 0, 3, 1]


def test_no_mistakes_gives_an_empty_array():
    y = np.arange(6) % 3
    result = misclassified(y, y, np.ones(6))
    assert result.shape == (0,)
    assert result.dtype == np.int64


def test_misclassified_rejects_a_wrong_confidence_shape():
    with pytest.raises(ValueError, match=r"confidence must have shape \(3,\)"):
        misclassified(np.zeros(3, int), np.ones(3, int), np.ones(4))
    with pytest.raises(ValueError, match="3 labels but y_pred holds 2"):
        misclassified(np.zeros(3, int), np.ones(2, int), np.ones(3))


# -- per_class_accuracy -------------------------------------------------------------


def test_per_class_accuracy_matches_a_loop():
    y_true, y_pred = random_labels(400, 6, 9)
    accuracy = per_class_accuracy(confusion_matrix(y_true, y_pred, 6))
    expected = [np.mean(y_pred[y_true == k] == k) for k in range(6)]
    np.testing.assert_allclose(accuracy, expected)


def test_per_class_accuracy_is_nan_for_empty_classes():
    accuracy = per_class_accuracy(np.array([[3, 1, 0], [0, 0, 0], [0, 2, 2]]))
    assert accuracy[0] == pytest.approx(0.75)
    assert np.isnan(accuracy[1])
    assert accuracy[2] == pytest.approx(0.5)


@pytest.mark.parametrize("matrix", [np.zeros((2, 3)), np.zeros(4), np.array([[1, -1], [0, 1]])])
def test_per_class_accuracy_rejects_bad_matrices(matrix):
    with pytest.raises(ValueError, match="confusion matrix"):
        per_class_accuracy(matrix)
