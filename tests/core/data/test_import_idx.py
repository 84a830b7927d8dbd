"""IDX (MNIST-style) import: folders, single files, gzip, and damaged files."""

from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest

from core.data import DatasetError, import_dataset


def idx_bytes(array: np.ndarray, magic: int | None = None) -> bytes:
    magic = (0x0800 + array.ndim) if magic is None else magic
    return struct.pack(f">I{array.ndim}I", magic, *array.shape) + array.astype(np.uint8).tobytes()


def write(path, data: bytes):
    if path.name.endswith(".gz"):
        with gzip.open(path, "wb") as handle:
            handle.write(data)
    else:
        path.write_bytes(data)
    return path


def sample_arrays(count=12, size=(5, 4), seed=0):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (count, *size), dtype=np.uint8)
    labels = (np.arange(count) % 10).astype(np.uint8)
    return images, labels


def write_split(directory, split, images, labels, suffix="", separator="-"):
    write(directory / f"{split}-images{separator}idx3-ubyte{suffix}", idx_bytes(images))
    write(directory / f"{split}-labels{separator}idx1-ubyte{suffix}", idx_bytes(labels))


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_folder_with_train_and_test_splits(tmp_path, suffix):
    images, labels = sample_arrays()
    test_images, test_labels = sample_arrays(count=7, seed=1)
    write_split(tmp_path, "train", images, labels, suffix)
    write_split(tmp_path, "t10k", test_images, test_labels, suffix)
    data = import_dataset(tmp_path)
    assert data.x.shape == (12, 1, 5, 4) and data.x.dtype == np.float32
    np.testing.assert_allclose(data.x[:, 0], images / 255.0, atol=1e-7)
    assert data.y.tolist() == labels.tolist()
    assert data.class_names == [str(d) for d in range(10)]
    assert data.name == tmp_path.name
    assert data.test is not None and data.test.x.shape == (7, 1, 5, 4)
    np.testing.assert_allclose(data.test.x[:, 0], test_images / 255.0, atol=1e-7)


def test_folder_without_test_split_and_with_dotted_names(tmp_path):
    images, labels = sample_arrays(count=3)
    write_split(tmp_path, "train", images, labels, separator=".")
    data = import_dataset(tmp_path)
    assert data.test is None and len(data) == 3
    assert data.class_names == ["0", "1", "2"]


def test_single_images_file_finds_its_labels_beside_it(tmp_path):
    images, labels = sample_arrays()
    write(tmp_path / "t10k-images-idx3-ubyte.gz", idx_bytes(images))
    write(tmp_path / "t10k-labels-idx1-ubyte", idx_bytes(labels))
    data = import_dataset(tmp_path / "t10k-images-idx3-ubyte.gz")
    assert len(data) == 12 and data.test is None
    assert data.name == "t10k-images-idx3-ubyte"


def test_single_images_file_without_labels(tmp_path):
    images, _ = sample_arrays()
    path = write(tmp_path / "train-images-idx3-ubyte", idx_bytes(images))
    expected = "train-images-idx3-ubyte: its labels file train-labels-idx1-ubyte is missing"
    with pytest.raises(DatasetError, match=expected):
        import_dataset(path)


def test_labels_file_alone_is_refused_with_advice(tmp_path):
    _, labels = sample_arrays()
    path = write(tmp_path / "train-labels-idx1-ubyte", idx_bytes(labels))
    with pytest.raises(DatasetError, match="is an IDX labels file; choose its images file"):
        import_dataset(path)


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_truncated_images_file_names_file_and_sizes(tmp_path, suffix):
    images, labels = sample_arrays()
    write(tmp_path / f"train-images-idx3-ubyte{suffix}", idx_bytes(images)[:-7])
    write(tmp_path / f"train-labels-idx1-ubyte{suffix}", idx_bytes(labels))
    with pytest.raises(DatasetError) as info:
        import_dataset(tmp_path)
    message = str(info.value)
    assert message.startswith(str(tmp_path / f"train-images-idx3-ubyte{suffix}") + ": ")
    assert "announces 12×5×4 = 240 bytes of data, the file holds 233" in message


def test_truncated_gzip_stream_is_refused(tmp_path):
    images, labels = sample_arrays(count=200, size=(28, 28))
    blob = gzip.compress(idx_bytes(images))
    (tmp_path / "train-images-idx3-ubyte.gz").write_bytes(blob[: len(blob) // 2])
    write(tmp_path / "train-labels-idx1-ubyte.gz", idx_bytes(labels))
    with pytest.raises(DatasetError, match=r"train-images-idx3-ubyte\.gz: cannot be read, the file is damaged"):
        import_dataset(tmp_path)


def test_trailing_data_is_refused(tmp_path):
    images, labels = sample_arrays()
    write(tmp_path / "train-images-idx3-ubyte", idx_bytes(images) + b"\0\0")
    write(tmp_path / "train-labels-idx1-ubyte", idx_bytes(labels))
    with pytest.raises(DatasetError, match="240 bytes of data, the file holds more"):
        import_dataset(tmp_path)


def test_count_mismatch_names_both_files(tmp_path):
    images, labels = sample_arrays()
    write_split(tmp_path, "train", images, labels[:-1])
    with pytest.raises(DatasetError) as info:
        import_dataset(tmp_path)
    message = str(info.value)
    assert message.startswith(str(tmp_path / "train-images-idx3-ubyte"))
    assert "holds 12 images but" in message and "train-labels-idx1-ubyte holds 11 labels" in message


def test_wrong_magic_number(tmp_path):
    images, labels = sample_arrays()
    write(tmp_path / "train-images-idx3-ubyte", idx_bytes(images, magic=0x0D03))
    write(tmp_path / "train-labels-idx1-ubyte", idx_bytes(labels))
    expected = "is not an IDX images file: its magic number is 0x00000D03, expected 0x00000803"
    with pytest.raises(DatasetError, match=expected):
        import_dataset(tmp_path)


def test_huge_header_is_refused_before_reading(tmp_path):
    header = struct.pack(">IIII", 0x0803, 2**31 - 1, 2**16, 2**16)
    write(tmp_path / "train-images-idx3-ubyte", header + b"\0" * 64)
    write(tmp_path / "train-labels-idx1-ubyte", idx_bytes(np.zeros(4, np.uint8)))
    with pytest.raises(DatasetError, match="Layerwise reads at most 2,147,483,648"):
        import_dataset(tmp_path)


def test_test_split_with_other_image_size(tmp_path):
    write_split(tmp_path, "train", *sample_arrays())
    write_split(tmp_path, "t10k", *sample_arrays(size=(6, 6)))
    with pytest.raises(DatasetError, match="t10k-images-idx3-ubyte: images are 6×6 but the training images are 5×4"):
        import_dataset(tmp_path)


def test_test_images_without_test_labels(tmp_path):
    images, labels = sample_arrays()
    write_split(tmp_path, "train", images, labels)
    write(tmp_path / "t10k-images-idx3-ubyte", idx_bytes(images))
    with pytest.raises(DatasetError, match="has t10k-images-idx3-ubyte but not the matching t10k labels file"):
        import_dataset(tmp_path)


def test_file_recognised_by_its_magic_number(tmp_path):
    images, labels = sample_arrays()
    path = write(tmp_path / "digits-images.ubyte", idx_bytes(images))
    write(tmp_path / "digits-labels.ubyte", idx_bytes(labels))
    assert len(import_dataset(path)) == 12
