"""CIFAR-100 folders, image folders with train/val/test splits, class counts and imbalance.

CIFAR-100 files are made here as the real ones are laid out: dictionaries with bytes
keys (``data``, ``fine_labels``, ``coarse_labels``, …) and a ``meta`` file with the
fine and coarse class names.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pytest

from cli import train as train_command
from core.data import Dataset, DatasetError, import_dataset
from core.data.dataset import STRONG_IMBALANCE, class_counts, imbalance
from core.data.importers import dataset_kind, read_dataset
from tests.core.data.test_import_cifar import NAMES, batch, dump
from tests.core.data.test_import_images import save_image

FINE = [f"fine_{k}" for k in range(100)]
COARSE = [f"coarse_{k}" for k in range(20)]


def cifar100_part(count: int, seed: int) -> dict[bytes, object]:
    """A CIFAR-100 batch as the python version stores it."""
    rng = np.random.default_rng(seed)
    fine = [int(v) for v in rng.integers(0, 100, count)]
    return {
        b"filenames": [f"image_{seed}_{i}.png".encode() for i in range(count)],
        b"batch_label": b"training batch 1 of 1",
        b"fine_labels": fine,
        b"coarse_labels": [label // 5 for label in fine],
        b"data": rng.integers(0, 256, (count, 3072), dtype=np.uint8),
    }


def cifar100_folder(root: Path, *, test: bool = True, meta: bool = True) -> Path:
    folder = root / "cifar-100-python"
    folder.mkdir()
    dump(folder / "train", cifar100_part(6, 0))
    if test:
        dump(folder / "test", cifar100_part(4, 1))
    if meta:
        names = {b"fine_label_names": [n.encode() for n in FINE], b"coarse_label_names": [n.encode() for n in COARSE]}
        dump(folder / "meta", names)
    return folder


# -- CIFAR-100 ----------------------------------------------------------------------------------


def test_cifar100_folder_reads_the_fine_labels_with_the_test_file_as_test_split(tmp_path):
    folder = cifar100_folder(tmp_path)
    train, test = cifar100_part(6, 0), cifar100_part(4, 1)
    assert dataset_kind(folder) == "cifar100"
    data = import_dataset(folder)
    assert data.name == "cifar-100-python" and data.x.shape == (6, 3, 32, 32) and data.x.dtype == np.float32
    np.testing.assert_allclose(data.x, train[b"data"].reshape(6, 3, 32, 32) / 255.0, atol=1e-7)
    assert data.y.tolist() == train[b"fine_labels"]
    assert data.class_names == FINE and data.num_classes == 100
    assert data.test is not None and data.test.class_names == FINE and data.val is None
    assert data.test.y.tolist() == test[b"fine_labels"]
    np.testing.assert_allclose(data.test.x, test[b"data"].reshape(4, 3, 32, 32) / 255.0, atol=1e-7)


def test_coarse_labels_give_the_twenty_superclasses(tmp_path):
    folder = cifar100_folder(tmp_path)
    data = import_dataset(folder, cifar100_labels="coarse")
    assert data.class_names == COARSE
    assert data.y.tolist() == cifar100_part(6, 0)[b"coarse_labels"]
    assert data.test is not None and data.test.y.tolist() == cifar100_part(4, 1)[b"coarse_labels"]


def test_a_cifar100_folder_without_test_and_one_of_its_files(tmp_path):
    folder = cifar100_folder(tmp_path, test=False)
    assert import_dataset(folder).test is None
    single = import_dataset(folder / "train", cifar100_labels="coarse")
    assert dataset_kind(folder / "train") == "cifar100" and single.class_names == COARSE and len(single) == 6


def test_a_bad_labels_value_is_refused_naming_the_path(tmp_path):
    folder = cifar100_folder(tmp_path)
    with pytest.raises(DatasetError) as info:
        import_dataset(folder, cifar100_labels="medium")
    assert str(info.value).startswith(f"{folder}: ") and "'medium'" in str(info.value)
    with pytest.raises(DatasetError, match="'fine'"):
        read_dataset(folder, "cifar100", cifar100_labels="Fine")


def test_a_missing_meta_file_is_refused_naming_it(tmp_path):
    folder = cifar100_folder(tmp_path, meta=False)
    with pytest.raises(DatasetError) as info:
        import_dataset(folder)
    assert str(info.value).startswith(f"{folder / 'meta'}: is missing")


def test_labels_the_meta_file_does_not_name_and_a_meta_without_names_are_refused(tmp_path):
    folder = cifar100_folder(tmp_path)
    dump(folder / "meta", {b"fine_label_names": [b"only", b"two"], b"coarse_label_names": []})
    with pytest.raises(DatasetError, match="names only 2 classes"):
        import_dataset(folder)
    with pytest.raises(DatasetError) as info:
        import_dataset(folder, cifar100_labels="coarse")
    assert str(info.value).startswith(f"{folder / 'meta'}: entry 'coarse_label_names'")


def test_a_cifar10_batch_in_place_of_train_names_the_missing_entry(tmp_path):
    folder = cifar100_folder(tmp_path)
    dump(folder / "train", batch(3, 0))
    with pytest.raises(DatasetError) as info:
        import_dataset(folder)
    assert str(info.value).startswith(f"{folder / 'train'}: has no 'fine_labels' entry")


def test_cifar10_folders_still_read_as_before(tmp_path):
    dump(tmp_path / "data_batch_1", batch(5, 0))
    dump(tmp_path / "batches.meta", {b"label_names": [n.encode() for n in NAMES]})
    assert dataset_kind(tmp_path) == "cifar"
    data = import_dataset(tmp_path, cifar100_labels="coarse")  # ignored: not CIFAR-100
    assert data.class_names == NAMES and data.y.tolist() == batch(5, 0)[b"labels"]


# -- image folders with splits ------------------------------------------------------------------


def split_folder(root: Path, val_name: str = "val") -> Path:
    """train/ (cats ×3, dogs ×1, 8×8), val_name/ (cats, owls, one 12×12 image), test/ (dogs)."""
    folder = root / "pets"
    for i in range(3):
        save_image(folder / "train" / "cats" / f"{i}.png", size=(8, 8), value=10 + i)
    save_image(folder / "train" / "dogs" / "0.png", size=(8, 8), value=100)
    save_image(folder / val_name / "cats" / "0.png", size=(8, 8), value=20)
    save_image(folder / val_name / "owls" / "0.png", size=(12, 12), value=200)
    save_image(folder / "test" / "dogs" / "0.png", size=(8, 8), value=150)
    save_image(folder / "test" / "dogs" / "1.png", size=(8, 8), value=160)
    (folder / "README.txt").write_text("not a split")
    return folder


def test_train_val_and_test_folders_become_splits_with_the_union_of_classes(tmp_path):
    folder = split_folder(tmp_path)
    assert dataset_kind(folder) == "images"
    data = import_dataset(folder)
    assert data.name == "pets" and data.class_names == ["cats", "dogs", "owls"]
    assert data.x.shape == (4, 1, 8, 8) and data.y.tolist() == [0, 0, 0, 1]
    assert data.val is not None and data.test is not None
    assert data.val.name == "pets val" and data.val.class_names == data.class_names
    assert data.val.y.tolist() == [0, 2] and data.val.x.shape == (2, 1, 8, 8)  # the 12×12 owl resized
    np.testing.assert_allclose(data.val.x[1], 200 / 255, atol=1e-6)
    assert data.test.y.tolist() == [1, 1] and data.test.class_names == data.class_names
    assert class_counts(data) == [3, 1, 0] and class_counts(data.val) == [1, 0, 1]


@pytest.mark.parametrize("val_name", ["valid", "validation", "Val"])
def test_valid_and_validation_folders_are_the_validation_split(tmp_path, val_name):
    data = import_dataset(split_folder(tmp_path, val_name))
    assert data.val is not None and len(data.val) == 2


def test_a_colour_image_in_any_split_makes_every_split_rgb(tmp_path):
    folder = split_folder(tmp_path)
    save_image(folder / "test" / "owls" / "c.png", size=(8, 8), mode="RGB", value=50)
    data = import_dataset(folder)
    assert data.x.shape[1:] == data.val.x.shape[1:] == data.test.x.shape[1:] == (3, 8, 8)


def test_two_validation_folders_and_an_unlabelled_split_are_refused_naming_them(tmp_path):
    folder = split_folder(tmp_path)
    save_image(folder / "valid" / "cats" / "0.png", size=(8, 8))
    with pytest.raises(DatasetError) as info:
        import_dataset(folder)
    assert str(info.value).startswith(f"{folder}: has both val/ and valid/")
    other = split_folder(tmp_path / "other")
    for file in (other / "test" / "dogs").iterdir():
        file.rename(other / "test" / file.name)
    (other / "test" / "dogs").rmdir()
    with pytest.raises(DatasetError) as info:
        import_dataset(other)
    assert str(info.value).startswith(f"{other / 'test'}: none of its sub-folders holds images")


def test_splits_of_one_class_only_are_refused(tmp_path):
    save_image(tmp_path / "train" / "cats" / "0.png")
    save_image(tmp_path / "test" / "cats" / "0.png")
    with pytest.raises(DatasetError, match="only one class, 'cats'"):
        import_dataset(tmp_path)


def test_a_class_folder_named_train_with_images_keeps_the_folder_plain(tmp_path):
    save_image(tmp_path / "train" / "0.png")
    save_image(tmp_path / "test" / "0.png")
    data = import_dataset(tmp_path)
    assert data.class_names == ["test", "train"] and data.val is None and data.test is None


# -- Dataset.val, class counts, imbalance -------------------------------------------------------


def tiny(name: str, y: list[int], shape: tuple[int, ...] = (1, 2, 2), classes: int = 3) -> Dataset:
    x = np.zeros((len(y), *shape), dtype=np.float32)
    return Dataset(name, x, np.array(y, dtype=np.int64), [f"c{k}" for k in range(classes)])


def test_a_val_split_must_match_the_training_samples_and_classes():
    with pytest.raises(DatasetError, match="val samples are 1×3×3 but training samples are 1×2×2"):
        Dataset("d", tiny("d", [0]).x, np.array([0]), ["c0", "c1", "c2"], val=tiny("v", [0], (1, 3, 3)))
    with pytest.raises(DatasetError, match="the val split has different class names"):
        Dataset("d", tiny("d", [0]).x, np.array([0]), ["c0", "c1", "c2"], val=tiny("v", [0], classes=4))
    with pytest.raises(DatasetError, match="val must be a Dataset or None"):
        Dataset("d", tiny("d", [0]).x, np.array([0]), ["c0", "c1", "c2"], val="val/")  # type: ignore[arg-type]
    data = tiny("d", [0, 1, 1])
    data.val = tiny("v", [2])
    assert data.subset(np.array([0])).val is None and all(part.val is None for part in data.split(0.5, 0))


def test_class_counts_and_imbalance_leave_out_empty_classes():
    data = tiny("d", [0] * 6 + [2] * 2, classes=4)
    assert class_counts(data) == [6, 0, 2, 0]
    assert imbalance(data) == 3.0 >= STRONG_IMBALANCE
    assert imbalance(tiny("e", [0, 1, 2])) == 1.0


# -- layerwise train ---------------------------------------------------------------------------


def layerwise_train(*argv: str) -> int:
    """``layerwise train ARGV``, parsed and run as the command line does."""
    parser = argparse.ArgumentParser(prog="layerwise")
    train_command.add_parser(parser.add_subparsers())
    args = parser.parse_args(["train", *argv])
    return args.handler(args)


def digits_split_folder(root: Path) -> Path:
    """An 8×8 grey image folder for digits_cnn (10 classes): train 2 per class, val 1 per class, test 1 of class 3."""
    folder = root / "digits_split"
    for k in range(10):
        for i in range(2):
            save_image(folder / "train" / f"d{k}" / f"{i}.png", size=(8, 8), value=20 * k + i)
        save_image(folder / "val" / f"d{k}" / "0.png", size=(8, 8), value=20 * k + 5)
    save_image(folder / "test" / "d3" / "0.png", size=(8, 8), value=61)
    return folder


def test_layerwise_train_validates_on_the_folders_val_split(tmp_path, capsys):
    folder = digits_split_folder(tmp_path)
    argv = ["digits_cnn", "--dataset", str(folder), "--epochs", "1", "--batch-size", "8"]
    assert layerwise_train(*argv) == 0
    out = capsys.readouterr().out
    assert "validation: the folder's val/ split (10 samples)" in out
    assert "20 training / 10 validation samples" in out
    assert "class counts (training): d0 2, d1 2, " in out and "imbalanced" not in out
    assert "on 1 held-out samples" in out
    # --val-split 0 still means no validation at all.
    assert layerwise_train(*argv, "--val-split", "0") == 0
    out = capsys.readouterr().out
    assert "val/ split" not in out and "20 training (no validation split) samples" in out


def imbalanced_npz(path: Path) -> Path:
    """10 classes of 8×8 images: class 0 has 30 samples, the others 5 each (6×)."""
    y = np.array([0] * 30 + [k for k in range(1, 10) for _ in range(5)])
    x = np.random.default_rng(0).integers(0, 256, (len(y), 8, 8), dtype=np.uint8)
    np.savez(path, x=x, y=y)
    return path


def test_layerwise_train_warns_of_imbalanced_classes(tmp_path, capsys):
    path = imbalanced_npz(tmp_path / "skewed.npz")
    argv = ["digits_cnn", "--dataset", str(path), "--epochs", "1", "--val-split", "0"]
    assert layerwise_train(*argv) == 0
    out = capsys.readouterr().out
    assert "class counts (training): 0 30, 1 5, 2 5, " in out
    assert "warning: the classes are imbalanced, the largest has 6.0× the samples of the smallest" in out
    assert "consider --class-weights balanced" in out
    assert layerwise_train(*argv, "--class-weights", "balanced") == 0
    out = capsys.readouterr().out
    assert "imbalanced" in out and "consider --class-weights" not in out


# -- train.py of an exported project -----------------------------------------------------------


def test_train_py_reads_cifar100_and_the_training_split_of_a_split_folder(tmp_path):
    pytest.importorskip("torch")
    from core.engine.model import Model
    from core.examples import example_path
    from core.graph.fileformat import load_network
    from core.torch_export.project import write_torch_project
    from tests.core.torch_export.test_train_script import import_train_py

    project = tmp_path / "project"
    write_torch_project(Model(load_network(example_path("digits_cnn"))), project)
    script = import_train_py(project)
    for path in (cifar100_folder(tmp_path), split_folder(tmp_path)):
        expected = import_dataset(path)
        (x, y), test, class_names = script.read_dataset(path, script.dataset_kind(path))
        np.testing.assert_array_equal(x, expected.x)
        np.testing.assert_array_equal(y, expected.y)
        np.testing.assert_array_equal(test[0], expected.test.x)
        np.testing.assert_array_equal(test[1], expected.test.y)
        assert class_names == expected.class_names
