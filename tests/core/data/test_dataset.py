"""Dataset: validation of its arrays, subsets, and stratified, reproducible splits."""

from __future__ import annotations

import numpy as np
import pytest

from core.data import Dataset, DatasetError
from core.errors import LayerwiseError


def make(labels, features=3, names=None) -> Dataset:
    y = np.asarray(labels, dtype=np.int64)
    x = np.arange(len(y) * features, dtype=np.float32).reshape(len(y), features)
    return Dataset("toy", x, y, names or [str(k) for k in range(int(y.max()) + 1)])


def test_properties_of_an_image_dataset():
    data = Dataset("img", np.zeros((5, 3, 8, 6), np.float32), np.array([0, 1, 2, 0, 1]), ["a", "b", "c"])
    assert data.sample_shape == (3, 8, 6)
    assert data.num_classes == 3
    assert len(data) == 5
    assert data.test is None


def test_dataset_error_is_a_layerwise_error():
    assert issubclass(DatasetError, LayerwiseError)


@pytest.mark.parametrize(
    ("x", "y", "names", "fragment"),
    [
        (np.zeros((2, 3), np.float64), np.array([0, 1]), ["a", "b"], "x must be a float32 array"),
        (np.zeros((2, 3, 4), np.float32), np.array([0, 1]), ["a", "b"], "x must be a float32 array"),
        ([[0.0], [1.0]], np.array([0, 1]), ["a", "b"], "got list"),
        (np.zeros((2, 3), np.float32), np.array([0, 1], np.int32), ["a", "b"], "y must be a one-dimensional int64"),
        (np.zeros((2, 3), np.float32), np.array([[0], [1]]), ["a", "b"], "y must be a one-dimensional int64"),
        (np.zeros((2, 3), np.float32), np.array([0, 1, 1]), ["a", "b"], "x holds 2 samples but y holds 3 labels"),
        (np.zeros((0, 3), np.float32), np.array([], np.int64), ["a"], "holds no samples"),
        (np.zeros((2, 3), np.float32), np.array([0, 2]), ["a", "b"], "labels must lie in 0..1"),
        (np.zeros((2, 3), np.float32), np.array([-1, 1]), ["a", "b"], "found -1..1"),
        (np.zeros((2, 3), np.float32), np.array([0, 1]), ["a", "b", 3], "class_names must be a list of strings"),
    ],
)
def test_invalid_arrays_are_refused_with_the_reason(x, y, names, fragment):
    with pytest.raises(DatasetError, match="dataset 'bad'") as info:
        Dataset("bad", x, y, names)
    assert fragment in str(info.value)


def test_test_split_must_match_the_sample_shape_and_classes():
    train = make([0, 1, 0, 1])
    with pytest.raises(DatasetError, match="test samples are 2 but training samples are 3"):
        Dataset("toy", train.x, train.y, train.class_names, test=make([0, 1], features=2))
    with pytest.raises(DatasetError, match="different class names"):
        Dataset("toy", train.x, train.y, train.class_names, test=make([0, 1], names=["x", "y"]))


def test_non_contiguous_x_is_made_contiguous():
    x = np.zeros((4, 6), np.float32)[:, ::2]
    data = Dataset("toy", x, np.array([0, 1, 0, 1]), ["a", "b"])
    assert data.x.flags.c_contiguous


def test_subset_copies_the_selected_samples_and_drops_the_test_split():
    data = make([0, 1, 2, 0, 1, 2])
    data.test = make([0, 1, 2])
    part = data.subset(np.array([4, 1]))
    assert part.y.tolist() == [1, 1]
    np.testing.assert_array_equal(part.x, data.x[[4, 1]])
    assert part.class_names == data.class_names and part.class_names is not data.class_names
    assert part.test is None
    part.x[0, 0] = -1.0
    assert data.x[4, 0] != -1.0


def test_split_is_stratified_and_keeps_every_class_in_both_parts():
    labels = [0] * 50 + [1] * 30 + [2] * 2 + [3] * 1
    data = make(labels)
    train, val = data.split(0.2, seed=1)
    assert np.bincount(val.y, minlength=4).tolist() == [10, 6, 1, 0]
    assert np.bincount(train.y, minlength=4).tolist() == [40, 24, 1, 1]
    # Every sample lands in exactly one part, unchanged (x encodes the original index).
    rows = np.concatenate([train.x[:, 0], val.x[:, 0]]) // 3
    assert sorted(rows.astype(int).tolist()) == list(range(len(labels)))


def test_split_is_deterministic_for_a_seed_and_varies_across_seeds():
    data = make(np.arange(200) % 4)
    first, again, other = data.split(0.25, seed=7), data.split(0.25, seed=7), data.split(0.25, seed=8)
    np.testing.assert_array_equal(first[1].x, again[1].x)
    np.testing.assert_array_equal(first[0].x, again[0].x)
    assert not np.array_equal(first[1].x, other[1].x)
    assert len(first[1]) == 50 and len(first[0]) == 150


@pytest.mark.parametrize("fraction", [0, 1, -0.1, 1.5, float("nan"), True, "0.2"])
def test_split_refuses_a_fraction_outside_zero_to_one(fraction):
    with pytest.raises(DatasetError, match="validation fraction must lie strictly between 0 and 1"):
        make([0, 1, 0, 1]).split(fraction, seed=0)


def test_split_refuses_when_the_validation_part_would_be_empty():
    with pytest.raises(DatasetError, match="no class has 2 or more samples"):
        make([0, 1, 2]).split(0.5, seed=0)


def test_tiny_fractions_still_put_one_sample_of_each_class_in_validation():
    train, val = make([0] * 10 + [1] * 10).split(0.01, seed=0)
    assert sorted(val.y.tolist()) == [0, 1]
    assert len(train) == 18
