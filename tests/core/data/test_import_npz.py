""".npz import: layouts, value scaling, label mapping, and refusals."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest

from core.data import DatasetError, import_dataset, load_dataset


def save(tmp_path, name="data.npz", **arrays):
    path = tmp_path / name
    np.savez(path, **arrays)
    return path


def refusal(path) -> str:
    with pytest.raises(DatasetError) as info:
        import_dataset(path)
    message = str(info.value)
    assert message.startswith(f"{path}: "), message
    return message


def test_nhwc_uint8_with_test_split_becomes_nchw_in_unit_range(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (6, 5, 7, 3), dtype=np.uint8)
    x_test = rng.integers(0, 256, (2, 5, 7, 3), dtype=np.uint8)
    path = save(tmp_path, x_train=x, y_train=np.array([0, 1, 2, 0, 1, 2]), x_test=x_test, y_test=np.array([2, 0]))
    data = import_dataset(path)
    assert data.x.shape == (6, 3, 5, 7) and data.x.dtype == np.float32 and data.x.flags.c_contiguous
    np.testing.assert_allclose(data.x, x.transpose(0, 3, 1, 2) / 255.0, atol=1e-7)
    assert data.name == "data"
    assert data.test.x.shape == (2, 3, 5, 7) and data.test.y.tolist() == [2, 0]


def test_nhwc_alpha_channel_is_dropped(tmp_path):
    x = np.zeros((4, 6, 6, 4), np.uint8)
    x[..., 3] = 255
    data = import_dataset(save(tmp_path, x=x, y=np.array([0, 1, 0, 1])))
    assert data.sample_shape == (3, 6, 6) and data.x.max() == 0.0


def test_nchw_float_is_kept_as_is(tmp_path):
    x = np.linspace(-2, 2, 4 * 3 * 6 * 5).reshape(4, 3, 6, 5)
    data = import_dataset(save(tmp_path, x=x, y=np.array([1, 0, 1, 0])))
    assert data.sample_shape == (3, 6, 5)
    np.testing.assert_allclose(data.x, x.astype(np.float32))


def test_greyscale_stack_gets_a_channel_axis(tmp_path):
    x = np.full((3, 8, 9), 51, np.uint8)
    data = import_dataset(save(tmp_path, x=x, y=np.array([0, 1, 1])))
    assert data.sample_shape == (1, 8, 9)
    np.testing.assert_allclose(data.x, 0.2)


def test_feature_vectors_and_original_label_values_as_class_names(tmp_path):
    x = np.arange(10, dtype=np.int32).reshape(5, 2)
    data = import_dataset(save(tmp_path, x=x, y=np.array([7.0, 3.0, 7.0, -1.0, 3.0])))
    assert data.sample_shape == (2,)
    assert data.class_names == ["-1", "3", "7"]
    assert data.y.tolist() == [2, 1, 2, 0, 1]
    np.testing.assert_array_equal(data.x, x.astype(np.float32))


def test_test_labels_map_to_the_same_classes(tmp_path):
    x = np.zeros((3, 2), np.float32)
    path = save(tmp_path, x_train=x, y_train=np.array([5, 9, 5]), x_test=x[:2], y_test=np.array([[9], [2]]))
    data = import_dataset(path)
    assert data.class_names == ["2", "5", "9"]
    assert data.y.tolist() == [1, 2, 1] and data.test.y.tolist() == [2, 0]


def test_missing_keys_are_named(tmp_path):
    message = refusal(save(tmp_path, images=np.zeros((2, 2)), targets=np.zeros(2)))
    assert "needs arrays x_train and y_train (optionally x_test and y_test) or x and y; found images, targets" in (
        message
    )


def test_half_a_test_split_is_refused(tmp_path):
    message = refusal(save(tmp_path, x_train=np.zeros((2, 2)), y_train=np.zeros(2), x_test=np.zeros((1, 2))))
    assert "has x_test but no y_test" in message


def test_object_arrays_are_refused_without_unpickling(tmp_path):
    path = tmp_path / "objects.npz"
    np.savez(path, x=np.array([{"a": 1}, None], dtype=object), y=np.array([0, 1]))
    assert "array x holds object values; only numbers are accepted" in refusal(path)


def test_string_labels_are_refused(tmp_path):
    message = refusal(save(tmp_path, x=np.zeros((2, 2)), y=np.array(["cat", "dog"])))
    assert "array y holds <U3 values; only numbers are accepted" in message


@pytest.mark.parametrize(
    ("arrays", "fragment"),
    [
        ({"x": np.array([[np.nan, 0.0], [0, 1]]), "y": np.array([0, 1])}, "array x holds NaN at [0, 0]"),
        ({"x": np.array([[0, 1.0], [0, -np.inf]]), "y": np.array([0, 1])}, "array x holds an infinite value at [1, 1]"),
        (
            {"x": np.array([[1e300, 0.0], [0, 1]]), "y": np.array([0, 1])},
            "array x holds values beyond the range of float32 (±3.40282e+38), the largest in magnitude 1e+300 at [0, 0]",
        ),
        ({"x": np.zeros((3, 2)), "y": np.array([0, 1])}, "x holds 3 samples but y holds 2 labels"),
        ({"x": np.zeros((2, 2)), "y": np.array([0.5, 1.0])}, "array y must hold whole-number class labels"),
        ({"x": np.zeros((2, 2)), "y": np.zeros((2, 2))}, "y must be one label per sample, shape (N,), got (2, 2)"),
        ({"x": np.zeros((2, 2, 2, 2, 2)), "y": np.array([0, 1])}, "array x has shape (2, 2, 2, 2, 2); expected (N, F)"),
        ({"x": np.zeros((0, 4)), "y": np.zeros(0, np.int64)}, "holds no samples"),
        ({"x": np.zeros((2, 2), np.complex64), "y": np.array([0, 1])}, "holds complex64 values"),
    ],
)
def test_bad_arrays_are_refused_naming_the_array(tmp_path, arrays, fragment):
    assert fragment in refusal(save(tmp_path, **arrays))


def test_test_split_with_another_sample_shape(tmp_path):
    labels = np.array([0, 1])
    path = save(tmp_path, x_train=np.zeros((2, 3)), y_train=labels, x_test=np.zeros((2, 4)), y_test=labels)
    assert "x_test samples are 4 but x_train samples are 3" in refusal(path)


def test_array_header_announcing_a_huge_array_is_refused_before_reading(tmp_path):
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f8", "fortran_order": False, "shape": (2**20, 2**20)})
    path = tmp_path / "bomb.npz"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("x.npy", header.getvalue() + b"\0" * 16)
        archive.writestr("y.npy", header.getvalue())
    assert "array x is 1048576×1048576 = 8,796,093,022,208 bytes; the limit is 2,147,483,648" in refusal(path)


def test_damaged_archive(tmp_path):
    path = tmp_path / "broken.npz"
    path.write_bytes(b"PK\x03\x04 this is not really a zip file")
    assert "is not a .npz archive" in refusal(path)


@pytest.mark.parametrize(
    ("member", "fragment"),
    [
        (b"not an array", "is not a readable .npz file"),
        (b"\x93NUMPY\x07\x00", "array x uses .npy format version (7, 0), which Layerwise does not read"),
    ],
)
def test_damaged_member(tmp_path, member, fragment):
    path = tmp_path / "damaged.npz"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("x.npy", member)
        archive.writestr("y.npy", b"")
    assert fragment in refusal(path)


def test_plain_npy_file_named_npz_is_refused(tmp_path):
    path = tmp_path / "array.npz"
    with open(path, "wb") as handle:
        np.save(handle, np.zeros((3, 3)))
    assert "is not a .npz archive (a zip file of .npy arrays" in refusal(path)


def test_load_dataset_imports_a_path(tmp_path):
    path = save(tmp_path, x=np.zeros((2, 3)), y=np.array([4, 2]))
    data = load_dataset(str(path), input_shape=(1, 28, 28), n_samples=99)
    assert data.sample_shape == (3,) and data.class_names == ["2", "4"]
