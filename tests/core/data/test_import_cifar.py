"""CIFAR-10 python batches: real layouts load; hostile pickles are refused unexecuted."""

from __future__ import annotations

import os
import pickle
import struct

import numpy as np
import pytest

from core.data import DatasetError, import_dataset

NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def batch(count, seed):
    rng = np.random.default_rng(seed)
    data = rng.integers(0, 256, (count, 3072), dtype=np.uint8)
    return {b"batch_label": b"training batch", b"labels": [int(v) for v in rng.integers(0, 10, count)], b"data": data}


def dump(path, content):
    with open(path, "wb") as handle:
        pickle.dump(content, handle)
    return path


def python2_pickle(data: np.ndarray, labels: list[int]) -> bytes:
    """A batch as the original CIFAR files store it: protocol 2, Python 2 strings, numpy.core names."""

    def string(value: bytes) -> bytes:
        return b"U" + bytes([len(value)]) + value

    def small(value: int) -> bytes:
        return b"K" + bytes([value])

    def integer(value: int) -> bytes:
        return b"J" + struct.pack("<i", value)

    dtype = b"cnumpy\ndtype\n" + string(b"u1") + small(0) + small(1) + b"\x87R"
    dtype += b"(" + small(3) + string(b"|") + b"NNN" + integer(-1) + integer(-1) + small(0) + b"tb"
    array = b"cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\n" + small(0) + b"\x85" + string(b"b") + b"\x87R"
    raw = data.tobytes()
    array += b"(" + small(1) + integer(data.shape[0]) + integer(data.shape[1]) + b"\x86" + dtype + b"\x89"
    array += b"T" + struct.pack("<I", len(raw)) + raw + b"tb"
    items = string(b"data") + array + string(b"labels") + b"](" + b"".join(small(v) for v in labels) + b"e"
    return b"\x80\x02}(" + items + b"u."


def test_original_python2_batch_format_loads(tmp_path):
    data = np.random.default_rng(0).integers(0, 256, (4, 3072), dtype=np.uint8)
    path = tmp_path / "data_batch_1"
    path.write_bytes(python2_pickle(data, [3, 1, 4, 1]))
    loaded = import_dataset(path)
    assert loaded.x.shape == (4, 3, 32, 32)
    np.testing.assert_allclose(loaded.x, data.reshape(4, 3, 32, 32) / 255.0, atol=1e-7)
    assert loaded.y.tolist() == [3, 1, 4, 1]
    assert loaded.class_names == [str(k) for k in range(10)]


def test_folder_with_batches_test_batch_and_meta(tmp_path):
    batches = {name: batch(5, seed) for seed, name in enumerate(["data_batch_2", "data_batch_1", "test_batch"])}
    for name, content in batches.items():
        dump(tmp_path / name, content)
    dump(tmp_path / "batches.meta", {b"label_names": [n.encode() for n in NAMES], b"num_vis": 3072})
    (tmp_path / "readme.html").write_text("not a batch")
    data = import_dataset(tmp_path)
    assert data.x.shape == (10, 3, 32, 32) and data.x.dtype == np.float32
    # Batches are concatenated in numeric order: data_batch_1 first.
    expected = np.concatenate([batches["data_batch_1"][b"data"], batches["data_batch_2"][b"data"]])
    np.testing.assert_allclose(data.x, expected.reshape(10, 3, 32, 32) / 255.0, atol=1e-7)
    assert data.y.tolist() == batches["data_batch_1"][b"labels"] + batches["data_batch_2"][b"labels"]
    assert data.class_names == NAMES
    assert data.test is not None and len(data.test) == 5 and data.test.class_names == NAMES
    assert data.test.y.tolist() == batches["test_batch"][b"labels"]


def test_single_batch_file_with_string_keys_and_no_meta(tmp_path):
    content = {"data": batch(3, 0)[b"data"], "labels": np.array([0, 9, 2])}
    data = import_dataset(dump(tmp_path / "data_batch_4", content))
    assert len(data) == 3 and data.class_names == [str(k) for k in range(10)] and data.test is None


class RunsCommand:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_malicious_pickle_is_refused_without_running_anything(tmp_path):
    marker = tmp_path / "pwned"
    content = batch(2, 0)
    content[b"labels"] = RunsCommand(marker)
    path = dump(tmp_path / "data_batch_1", content)
    with pytest.raises(DatasetError) as info:
        import_dataset(tmp_path)
    message = str(info.value)
    assert message.startswith(f"{path}: refuses to load ")
    assert ".system" in message and "may be malicious" in message
    assert not marker.exists()


def test_malicious_meta_file_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    dump(tmp_path / "data_batch_1", batch(2, 0))
    dump(tmp_path / "batches.meta", {b"label_names": RunsCommand(marker)})
    with pytest.raises(DatasetError, match=r"batches\.meta: refuses to load"):
        import_dataset(tmp_path)
    assert not marker.exists()


class AllocatesArray:
    def __init__(self, function, args):
        self.reduced = (function, args)

    def __reduce__(self):
        return self.reduced


@pytest.mark.parametrize(
    "payload",
    [
        AllocatesArray(np.ndarray, ((2**40,),)),
        AllocatesArray(np.empty(0).__reduce__()[0], (np.ndarray, (2**40,), b"b")),
    ],
    ids=["ndarray-call", "reconstruct-with-shape"],
)
def test_pickles_that_would_allocate_huge_arrays_are_refused(tmp_path, payload):
    content = batch(2, 0)
    content[b"data"] = payload
    with pytest.raises(DatasetError, match="is not a readable CIFAR batch"):
        import_dataset(dump(tmp_path / "data_batch_1", content))


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({b"data": np.zeros((2, 3072), np.float32)}, "'data' must be a uint8 array of shape (N, 3072), got float32"),
        ({b"data": np.zeros((2, 1024), np.uint8)}, "got uint8 (2, 1024)"),
        ({b"labels": [0, 1, 2]}, "holds 2 images but 3 labels"),
        ({b"labels": ["cat", "dog"]}, "entry 'labels' must be a list of whole numbers"),
        ({b"labels": [0, -3]}, "holds the negative label -3"),
    ],
)
def test_bad_batch_contents_are_named(tmp_path, change, fragment):
    path = dump(tmp_path / "data_batch_1", batch(2, 0) | change)
    with pytest.raises(DatasetError) as info:
        import_dataset(path)
    assert str(info.value).startswith(f"{path}: ") and fragment in str(info.value)


def test_missing_entry_lists_the_entries_found(tmp_path):
    path = dump(tmp_path / "data_batch_1", {b"pixels": np.zeros(3, np.uint8)})
    with pytest.raises(DatasetError, match="has no 'data' entry; found pixels"):
        import_dataset(path)


def test_label_beyond_the_meta_names(tmp_path):
    content = batch(2, 0)
    content[b"labels"] = [0, 3]
    dump(tmp_path / "data_batch_1", content)
    dump(tmp_path / "batches.meta", {b"label_names": [b"a", b"b"]})
    with pytest.raises(DatasetError, match=r"data_batch_1: holds label 3 but .*batches\.meta names only 2 classes"):
        import_dataset(tmp_path)


def test_truncated_batch(tmp_path):
    path = tmp_path / "data_batch_1"
    path.write_bytes(pickle.dumps(batch(2, 0))[:-100])
    with pytest.raises(DatasetError, match="data_batch_1: is not a readable CIFAR batch"):
        import_dataset(path)


def test_folder_with_only_a_test_batch(tmp_path):
    dump(tmp_path / "test_batch", batch(2, 0))
    with pytest.raises(DatasetError, match="has a test_batch but no training batches"):
        import_dataset(tmp_path)
