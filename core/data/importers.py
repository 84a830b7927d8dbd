"""Reading datasets from disk: IDX (MNIST), .npz, CIFAR-10 and CIFAR-100 python batches, image folders.

Every file is treated as hostile: headers are checked before anything is
allocated from them and data is read as far as the file really goes, ``.npy``
headers are parsed without being evaluated, CIFAR pickles (CIFAR-10 and CIFAR-100)
are scanned and then read by an unpickler that can only rebuild NumPy arrays, and
images are decoded by the plugins of the accepted formats only, with a pixel cap. Every error is a
:class:`DatasetError` whose message starts with the offending file's path.

The detection of a path's format and the readers of IDX, CIFAR and image folders
(everything but :func:`import_dataset` and the ``.npz`` reader, which rests on
:mod:`core.safe_npz`) use nothing beyond the standard library, NumPy, Pillow (imported
when an image folder is read), :func:`~core.shapes.format_shape`,
:func:`~core.safe_npz.read_at_most` and :func:`~core.data.dataset.check_total_size`, and
raise nothing but :class:`DatasetError`: ``train.py`` of an exported PyTorch project
carries a copy of them (:mod:`core.torch_export.train_script`) and so reads these
formats exactly as Layerwise does.
"""

from __future__ import annotations

import gzip
import io
import math
import os
import pickle
import pickletools
import re
import struct
import warnings
import zipfile
import zlib
from collections import Counter
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from core.data.dataset import Dataset, DatasetError, check_total_size
from core.safe_npz import float_range_problem, read_at_most, read_npz
from core.shapes import format_shape

SUPPORTED_FORMATS = (
    (
        "an MNIST-style IDX folder (train-images-idx3-ubyte and train-labels-idx1-ubyte, each optionally .gz) "
        "or one IDX images file"
    ),
    "a .npz file with arrays x_train and y_train (optionally x_test and y_test) or x and y",
    (
        "a CIFAR-10 python folder (data_batch_1 … data_batch_5, optionally test_batch and batches.meta) "
        "or one batch file"
    ),
    "a CIFAR-100 python folder (train and meta, optionally test)",
    (
        "a folder with one sub-folder of images (png, jpg, jpeg, bmp, gif, webp) per class, or with train/ "
        "and val/ (or valid/, validation/) and test/ sub-folders, each holding one such sub-folder per class"
    ),
)
MAX_DATA_BYTES = 2**31
"""Largest array an imported file may declare (IDX data, .npz array, decoded image folder as float32)."""
MAX_BATCH_FILE_BYTES = 2**30
"""CIFAR-10 batch files are about 30 MB and CIFAR-100's ``train`` file, which holds all 50,000
training images, about 155 MB; larger pickles are refused before reading."""
MAX_IMAGE_PIXELS = 40_000_000
"""Larger images in an image folder are refused (decompression-bomb guard)."""
MAX_CLASSES = 10_000
"""More distinct labels than this in a .npz file means its labels are not class indices."""
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")
IMAGE_FORMATS = ("PNG", "JPEG", "BMP", "GIF", "WEBP")
"""The Pillow plugins allowed to decode dataset images (whatever a file's name says): the
formats of :data:`IMAGE_SUFFIXES`, and not the dozens of others Pillow would try, some of
which hand the file to external programs (EPS to Ghostscript)."""
PIL_ERRORS = (OSError, ValueError, SyntaxError, EOFError, struct.error)
"""What Pillow raises on damaged images: OSError (UnidentifiedImageError, truncated data,
decoder errors), ValueError, SyntaxError (broken PNG chunks), EOFError and struct.error
(short headers)."""

_IDX_IMAGES_MAGIC = 0x00000803
_IDX_LABELS_MAGIC = 0x00000801
_GREY_MODES = {"1", "L", "LA", "La", "I", "F", "I;16", "I;16L", "I;16B", "I;16N"}
_CIFAR_BATCH_NAME = re.compile(r"data_batch_\d+|test_batch")
CIFAR100_LABELS = ("fine", "coarse")
"""The label sets of CIFAR-100: its 100 classes, or the 20 superclasses that group them."""
CIFAR100_PARTS = ("train", "test")
"""CIFAR-100's batch files: the training and the test split, with ``meta`` beside them."""
SPLIT_FOLDERS = {"train": "train", "val": "val", "valid": "val", "validation": "val", "test": "test"}
"""The sub-folders of an image folder with splits, and the split each one holds."""

Split = tuple[np.ndarray, np.ndarray]
"""Images ``(N, C, H, W)`` float32 in [0, 1] and their ``(N,)`` int64 labels."""


def import_dataset(path: str | os.PathLike[str], *, cifar100_labels: str = "fine") -> Dataset:
    """Read the dataset at ``path``, detecting its format.

    Parameters
    ----------
    path
        A folder (IDX, CIFAR-10, CIFAR-100 or image folder) or a file (``.npz``, IDX
        images file, CIFAR batch); see :data:`SUPPORTED_FORMATS`.
    cifar100_labels
        For CIFAR-100: ``"fine"`` (its 100 classes) or ``"coarse"`` (its 20
        superclasses); see :data:`CIFAR100_LABELS`. Other formats ignore it.

    Returns
    -------
    Dataset
        Images as ``(N, C, H, W)`` float32; ``.test`` holds the test split when the
        source has one (IDX ``t10k``, CIFAR ``test_batch`` or ``test``, npz ``x_test``,
        an image folder's ``test/``) and ``.val`` an image folder's ``val/`` split.

    Raises
    ------
    DatasetError
        ``"<path>: …"`` naming the file and what is wrong with it.
    """
    path = Path(path)
    _check_cifar100_labels(path, cifar100_labels)
    kind = dataset_kind(path)
    if kind == "npz":
        return _import_npz(path)
    name = path.name if path.is_dir() else path.name.removesuffix(".gz")
    if kind == "images":
        splits, class_names = _read_image_splits(path)
    else:
        train, test, class_names = read_dataset(path, kind, cifar100_labels=cifar100_labels)
        splits = {"train": train} if test is None else {"train": train, "test": test}
    parts = {
        split: Dataset(f"{name} {split}", *splits[split], class_names) for split in ("val", "test") if split in splits
    }
    return Dataset(name, *splits["train"], class_names, test=parts.get("test"), val=parts.get("val"))


def dataset_kind(path: Path) -> str:
    """Which reader the dataset at ``path`` needs: ``"idx"``, ``"npz"``, ``"cifar"``, ``"cifar100"`` or ``"images"``.

    Folders are told apart by the names of their entries, files by their names and
    then by their first bytes. An image folder with splits (:data:`SPLIT_FOLDERS`) is
    ``"images"`` too.

    Raises
    ------
    DatasetError
        When ``path`` is missing, unreadable, an IDX labels file or in none of the
        layouts of :data:`SUPPORTED_FORMATS`.
    """
    if not path.exists():
        raise _unsupported(path, "does not exist")
    if not path.is_dir():
        return _file_kind(path)
    entries = _entries(path)
    if not entries:
        raise _unsupported(path, "is an empty folder")
    if _idx_file(path, "train", "images") is not None:
        return "idx"
    if any(_CIFAR_BATCH_NAME.fullmatch(entry.name) for entry in entries):
        return "cifar"
    if (path / "train").is_file() and _peek(path / "train").startswith(b"\x80"):
        return "cifar100"
    if _class_dirs(entries):
        return "images"
    raise _unsupported(path, "is a folder in none of the supported layouts")


def read_dataset(path: Path, kind: str, *, cifar100_labels: str = "fine") -> tuple[Split, Split | None, list[str]]:
    """The training split, the test split (``None`` unless the source has one) and the class names.

    An image folder's ``val/`` split is not among them: :func:`import_dataset` reads it
    (with :func:`_read_image_splits`).

    Parameters
    ----------
    path
        A folder or file of ``kind``.
    kind
        What :func:`dataset_kind` says of ``path``: ``"idx"``, ``"cifar"``, ``"cifar100"``
        or ``"images"`` (``.npz`` archives have readers of their own).
    cifar100_labels
        ``"fine"`` or ``"coarse"``: which labels of a CIFAR-100 file are the classes.

    Raises
    ------
    DatasetError
        ``"<path>: …"`` naming the file and what is wrong with it.
    """
    folder = path.is_dir()
    if kind == "idx":
        return _read_idx_folder(path) if folder else _read_idx_file(path)
    if kind == "cifar":
        return _read_cifar_folder(path) if folder else _read_cifar_file(path)
    if kind == "cifar100":
        return _read_cifar100(path, cifar100_labels)
    if kind == "images" and folder:
        return _read_image_folder(path)
    raise _unsupported(path, f"is not read as {kind!r} here")


def _unsupported(path: Path, reason: str) -> DatasetError:
    return DatasetError(f"{path}: {reason}; Layerwise imports " + "; ".join(SUPPORTED_FORMATS))


def _entries(path: Path) -> list[Path]:
    try:
        return sorted(path.iterdir())
    except OSError as exc:
        raise DatasetError(f"{path}: cannot be read: {exc.strerror or exc}") from None


def _class_dirs(entries: list[Path]) -> list[Path]:
    return [entry for entry in entries if entry.is_dir() and not entry.name.startswith(".")]


def _file_kind(path: Path) -> str:
    name = path.name.lower().removesuffix(".gz")
    if name.endswith(".npz"):
        return "npz"
    if "idx1" in name:
        raise DatasetError(f"{path}: is an IDX labels file; choose its images file (…-idx3-ubyte) or its folder")
    if "idx3" in name:
        return "idx"
    if _CIFAR_BATCH_NAME.fullmatch(name):
        return "cifar"
    if name in CIFAR100_PARTS and path.with_name("meta").is_file():
        return "cifar100"
    head = _peek(path)
    if head.startswith(_IDX_IMAGES_MAGIC.to_bytes(4, "big")):
        return "idx"
    if head.startswith(b"PK\x03\x04"):
        return "npz"
    if head.startswith(b"\x80"):
        return "cifar"
    raise _unsupported(path, "is not a file format Layerwise recognises")


def _open_binary(path: Path) -> BinaryIO:
    return gzip.open(path, "rb") if path.name.lower().endswith(".gz") else open(path, "rb")


def _peek(path: Path) -> bytes:
    """First bytes of ``path`` (decompressed when it ends in ``.gz``); empty when unreadable."""
    try:
        with _open_binary(path) as handle:
            return handle.read(4)
    except (OSError, EOFError, zlib.error):
        return b""


# --- IDX (MNIST, Fashion-MNIST) ---------------------------------------------------------------


def _idx_file(directory: Path, split: str, kind: str) -> Path | None:
    """The IDX file of ``split`` ("train", "t10k") and ``kind`` ("images", "labels") in ``directory``.

    Accepts the original names (``train-images-idx3-ubyte``) and the common
    variant with a dot (``train-images.idx3-ubyte``), each optionally gzipped.
    """
    idx = "idx3" if kind == "images" else "idx1"
    for separator in ("-", "."):
        for suffix in ("", ".gz"):
            candidate = directory / f"{split}-{kind}{separator}{idx}-ubyte{suffix}"
            if candidate.is_file():
                return candidate
    return None


def _labels_beside(images: Path) -> Path:
    name = images.name.replace("images", "labels").replace("idx3", "idx1")
    candidates = [images.with_name(name)]
    # The labels may be gzipped when the images are not, or the other way round.
    candidates.append(images.with_name(name.removesuffix(".gz") if name.endswith(".gz") else f"{name}.gz"))
    for candidate in candidates:
        if candidate != images and candidate.is_file():
            return candidate
    raise DatasetError(f"{images}: its labels file {candidates[0].name} is missing; it must sit beside the images")


def _read_idx(path: Path, magic: int, ndim: int) -> np.ndarray:
    """Read an IDX file of unsigned bytes with ``ndim`` dimensions.

    The header is checked (magic number, size at most :data:`MAX_DATA_BYTES`)
    before the data is read, and the data must be exactly as long as announced.

    Returns
    -------
    np.ndarray
        uint8 array of the shape given in the header.
    """
    kind = "images" if ndim == 3 else "labels"
    try:
        with _open_binary(path) as handle:
            found = int.from_bytes(handle.read(4), "big")
            if found != magic:
                raise DatasetError(
                    f"{path}: is not an IDX {kind} file: its magic number is 0x{found:08X}, expected 0x{magic:08X} "
                    f"(unsigned bytes, {ndim} dimension{'s' if ndim > 1 else ''})"
                )
            header = handle.read(4 * ndim)
            if len(header) < 4 * ndim:
                raise DatasetError(f"{path}: is truncated: its header ends after {4 + len(header)} bytes")
            dims = tuple(int.from_bytes(header[i : i + 4], "big") for i in range(0, 4 * ndim, 4))
            expected = math.prod(dims)
            if expected > MAX_DATA_BYTES:
                raise DatasetError(
                    f"{path}: its header announces {format_shape(dims)} = {expected:,} bytes of data; "
                    f"Layerwise reads at most {MAX_DATA_BYTES:,}"
                )
            # One byte more than announced reveals trailing data.
            data = read_at_most(handle, expected + 1)
    except (OSError, EOFError, zlib.error) as exc:
        raise DatasetError(f"{path}: cannot be read, the file is damaged or truncated: {exc}") from None
    if len(data) != expected:
        actual = f"{len(data):,}" if len(data) < expected else "more"
        raise DatasetError(
            f"{path}: its header announces {format_shape(dims)} = {expected:,} bytes of data, the file holds {actual}"
        )
    if expected == 0:
        raise DatasetError(f"{path}: its header announces {format_shape(dims)}: the file holds no {kind}")
    return np.frombuffer(data, dtype=np.uint8).reshape(dims)


def _read_idx_pair(images_path: Path, labels_path: Path) -> tuple[np.ndarray, np.ndarray]:
    """``(N, 1, H, W)`` float32 images in [0, 1] and ``(N,)`` int64 labels."""
    images = _read_idx(images_path, _IDX_IMAGES_MAGIC, 3)
    labels = _read_idx(labels_path, _IDX_LABELS_MAGIC, 1)
    if len(images) != len(labels):
        raise DatasetError(
            f"{images_path}: holds {len(images):,} images but {labels_path} holds {len(labels):,} labels"
        )
    return images[:, None].astype(np.float32) / np.float32(255), labels.astype(np.int64)


def _digit_names(*labels: np.ndarray) -> list[str]:
    return [str(k) for k in range(max(int(y.max()) for y in labels) + 1)]


def _read_idx_folder(path: Path) -> tuple[Split, Split | None, list[str]]:
    train_images = _idx_file(path, "train", "images")
    if train_images is None:
        raise _unsupported(path, "has no train-images-idx3-ubyte file")
    train_labels = _idx_file(path, "train", "labels")
    if train_labels is None:
        raise DatasetError(f"{path}: has {train_images.name} but no train-labels-idx1-ubyte file beside it")
    x, y = _read_idx_pair(train_images, train_labels)
    test_images, test_labels = _idx_file(path, "t10k", "images"), _idx_file(path, "t10k", "labels")
    if (test_images is None) != (test_labels is None):
        present = (test_images or test_labels).name
        missing = "labels" if test_images else "images"
        raise DatasetError(f"{path}: has {present} but not the matching t10k {missing} file")
    if test_images is None:
        return (x, y), None, _digit_names(y)
    x_test, y_test = _read_idx_pair(test_images, test_labels)
    if x_test.shape[1:] != x.shape[1:]:
        raise DatasetError(
            f"{test_images}: images are {format_shape(x_test.shape[2:])} "
            f"but the training images are {format_shape(x.shape[2:])}"
        )
    return (x, y), (x_test, y_test), _digit_names(y, y_test)


def _read_idx_file(path: Path) -> tuple[Split, None, list[str]]:
    x, y = _read_idx_pair(path, _labels_beside(path))
    return (x, y), None, _digit_names(y)


# --- .npz -------------------------------------------------------------------------------------


_NPZ_KEYS = {"x_train", "y_train", "x_test", "y_test", "x", "y"}


def _import_npz(path: Path) -> Dataset:
    # np.load would read a plain .npy file whole, before any size check; only archives are accepted.
    if not zipfile.is_zipfile(path):
        raise DatasetError(f"{path}: is not a .npz archive (a zip file of .npy arrays, as numpy.savez writes)")
    arrays = read_npz(
        path,
        lambda key, shape, dtype: key in _NPZ_KEYS,
        lambda reason: DatasetError(f"{path}: {reason}"),
        MAX_DATA_BYTES,
    )
    keys = set(arrays)
    if {"x_train", "y_train"} <= keys:
        train_keys = ("x_train", "y_train")
        test_keys = ("x_test", "y_test") if keys & {"x_test", "y_test"} else None
    elif {"x", "y"} <= keys:
        train_keys, test_keys = ("x", "y"), None
    else:
        found = ", ".join(sorted(keys)) or "no arrays"
        raise DatasetError(
            f"{path}: needs arrays x_train and y_train (optionally x_test and y_test) or x and y; found {found}"
        )
    for key in test_keys or ():
        if key not in keys:
            raise DatasetError(f"{path}: has {' and '.join(sorted(keys & set(test_keys)))} but no {key}")
    x = _npz_samples(path, train_keys[0], arrays[train_keys[0]])
    y = _npz_labels(path, train_keys, arrays[train_keys[1]], len(x))
    if test_keys is None:
        values = np.unique(y)
        return Dataset(path.stem, x, _label_indices(path, values, y), _value_names(values))
    x_test = _npz_samples(path, "x_test", arrays["x_test"])
    y_test = _npz_labels(path, test_keys, arrays["y_test"], len(x_test))
    if x_test.shape[1:] != x.shape[1:]:
        raise DatasetError(
            f"{path}: x_test samples are {format_shape(x_test.shape[1:])} "
            f"but x_train samples are {format_shape(x.shape[1:])}"
        )
    values = np.unique(np.concatenate([y, y_test]))
    names = _value_names(values)
    test = Dataset(f"{path.stem} test", x_test, _label_indices(path, values, y_test), names)
    return Dataset(path.stem, x, _label_indices(path, values, y), names, test=test)


def _npz_samples(path: Path, key: str, x: np.ndarray) -> np.ndarray:
    """``x`` as float32 ``(N, C, H, W)`` or ``(N, F)``; uint8 scaled to [0, 1], other numbers kept."""
    # Checked before the cast, which would turn values beyond float32 into infinities, and
    # before any transpose, so that the position named is the file's.
    problem = float_range_problem(x)
    if problem is not None:
        raise DatasetError(f"{path}: array {key} {problem}")
    if x.ndim == 3:
        x = x[:, None]
    elif x.ndim == 4 and x.shape[-1] in (1, 3, 4) and x.shape[1] not in (1, 3, 4):
        # Channels last (N, H, W, C): move them first and drop an alpha channel.
        x = x.transpose(0, 3, 1, 2)[:, :3]
    elif x.ndim not in (2, 4):
        raise DatasetError(
            f"{path}: array {key} has shape {x.shape}; expected (N, F), (N, H, W), (N, H, W, C) or (N, C, H, W)"
        )
    if len(x) == 0 or 0 in x.shape[1:]:
        raise DatasetError(f"{path}: array {key} has shape {x.shape}, which holds no samples")
    samples = x.astype(np.float32) / np.float32(255) if x.dtype == np.uint8 else x.astype(np.float32)
    return np.ascontiguousarray(samples)


def _npz_labels(path: Path, keys: tuple[str, str], y: np.ndarray, count: int) -> np.ndarray:
    """``y`` checked to be ``count`` whole-number labels, as a 1-D array of its own dtype."""
    x_key, y_key = keys
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise DatasetError(f"{path}: array {y_key} must be one label per sample, shape (N,), got {y.shape}")
    if len(y) != count:
        raise DatasetError(f"{path}: {x_key} holds {count:,} samples but {y_key} holds {len(y):,} labels")
    if y.dtype.kind == "f" and not (np.isfinite(y).all() and (y == np.round(y)).all()):
        raise DatasetError(f"{path}: array {y_key} must hold whole-number class labels; it holds fractions, NaN or Inf")
    return y


def _value_names(values: np.ndarray) -> list[str]:
    """Class names from the sorted distinct label values: ``[3.0, 7.0]`` → ``["3", "7"]``."""
    return [str(int(v)) for v in values]


def _label_indices(path: Path, values: np.ndarray, y: np.ndarray) -> np.ndarray:
    if len(values) > MAX_CLASSES:
        raise DatasetError(
            f"{path}: the labels take {len(values):,} distinct values; Layerwise classifies into at most "
            f"{MAX_CLASSES:,} classes"
        )
    return np.searchsorted(values, y).astype(np.int64)


# --- CIFAR-10 python batches ------------------------------------------------------------------

_NUMPY_RECONSTRUCT = np.empty(0).__reduce__()[0]


class _NdarrayType:
    """Stands for ``numpy.ndarray`` inside a batch: accepted by :func:`_reconstruct`, never called.

    Returning the real class would let a pickle call ``numpy.ndarray(shape)`` and
    allocate any amount of memory.
    """

    def __new__(cls, *args: object) -> _NdarrayType:
        raise pickle.UnpicklingError("it calls numpy.ndarray directly, which array pickles never do")


def _reconstruct(subtype: object, shape: object, dtype: object) -> np.ndarray:
    # NumPy pickles always start an array empty, then fill it from its state, whose
    # length NumPy checks; any other use is refused.
    if subtype is not _NdarrayType or shape not in (0, (0,)):
        raise pickle.UnpicklingError(f"it rebuilds an array of shape {shape!r}, which array pickles never do")
    return _NUMPY_RECONSTRUCT(np.ndarray, shape, dtype)


_ALLOWED_GLOBALS: dict[tuple[str, str], object] = {
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy", "ndarray"): _NdarrayType,
    ("numpy", "dtype"): np.dtype,
}


class _BatchUnpickler(pickle.Unpickler):
    """Unpickler that can rebuild NumPy arrays and plain containers, and nothing else."""

    def __init__(self, handle: BinaryIO, path: Path) -> None:
        super().__init__(handle, encoding="bytes")
        self._path = path

    def find_class(self, module: str, name: str) -> Any:
        allowed = _ALLOWED_GLOBALS.get((module, name))
        if allowed is None:
            raise DatasetError(
                f"{self._path}: refuses to load {module}.{name}: a CIFAR batch holds only NumPy arrays, "
                "lists and numbers, so this file is not one and may be malicious"
            )
        return allowed


PICKLE_ERRORS = (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError, OverflowError)
"""What unpickling damaged data raises: the documented UnpicklingError, EOFError, AttributeError
(BUILD on an object without state) and IndexError, and ValueError, TypeError or OverflowError
from the only callables a batch may use (``numpy.dtype`` and array reconstruction)."""
_MEMO_STORES = {"PUT", "BINPUT", "LONG_BINPUT", "MEMOIZE"}


def _unpickle(path: Path) -> Any:
    try:
        size = path.stat().st_size
        if size > MAX_BATCH_FILE_BYTES:
            raise DatasetError(f"{path}: is {size:,} bytes; CIFAR batch files are at most {MAX_BATCH_FILE_BYTES:,}")
        data = path.read_bytes()
    except OSError as exc:
        raise DatasetError(f"{path}: cannot be read: {exc.strerror or exc}") from None
    try:
        _check_opcodes(data)
        return _BatchUnpickler(io.BytesIO(data), path).load()
    except PICKLE_ERRORS as exc:
        raise DatasetError(f"{path}: is not a readable CIFAR batch: {type(exc).__name__}: {exc}") from None


def _check_opcodes(data: bytes) -> None:
    """Walk the pickle's opcodes without running any, refusing what would make the unpickler allocate blindly.

    The C unpickler allocates a length-prefixed string before reading it, and grows its
    memo table to the largest index stored: eight bytes of file could ask for gigabytes.
    ``pickletools.genops`` reads each argument from the data itself, so an announced
    length longer than the file fails here (``ValueError``); memo indices must be the
    sequential ones every pickler writes.
    """
    stores = 0
    for opcode, argument, position in pickletools.genops(data):
        if opcode.name not in _MEMO_STORES:
            continue
        if opcode.name != "MEMOIZE" and argument > stores:
            raise pickle.UnpicklingError(f"at byte {position} it stores memo entry {argument} after only {stores}")
        stores += 1


def _entry(path: Path, batch: dict[Any, Any], key: str) -> Any:
    for candidate in (key.encode(), key):
        if candidate in batch:
            return batch[candidate]
    found = ", ".join(sorted(k.decode(errors="replace") if isinstance(k, bytes) else str(k) for k in batch))
    raise DatasetError(f"{path}: has no {key!r} entry; found {found or 'no entries'}")


def _read_batch(path: Path, labels_key: str = "labels") -> tuple[np.ndarray, np.ndarray]:
    """``(N, 3, 32, 32)`` float32 images in [0, 1] and ``(N,)`` int64 labels of one batch file.

    ``labels_key`` names the entry of the labels: ``"labels"`` in CIFAR-10,
    ``"fine_labels"`` or ``"coarse_labels"`` in CIFAR-100.
    """
    batch = _unpickle(path)
    if not isinstance(batch, dict):
        raise DatasetError(f"{path}: holds a {type(batch).__name__}, not a CIFAR batch dictionary")
    data, labels = _entry(path, batch, "data"), _entry(path, batch, labels_key)
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        shown = f"{data.dtype} {data.shape}" if isinstance(data, np.ndarray) else type(data).__name__
        raise DatasetError(f"{path}: entry 'data' must be a uint8 array of shape (N, 3072), got {shown}")
    try:
        labels = np.asarray(labels)
    except (TypeError, ValueError, OverflowError):
        labels = np.asarray([], dtype=object)
    if labels.ndim != 1 or labels.dtype.kind not in "iu":
        raise DatasetError(f"{path}: entry {labels_key!r} must be a list of whole numbers")
    if len(labels) != len(data) or len(data) == 0:
        raise DatasetError(f"{path}: holds {len(data):,} images but {len(labels):,} labels")
    if labels.min() < 0:
        raise DatasetError(f"{path}: entry {labels_key!r} holds the negative label {int(labels.min())}")
    if labels.max() >= MAX_CLASSES:
        raise DatasetError(
            f"{path}: entry {labels_key!r} holds label {int(labels.max()):,}; Layerwise classifies into at most "
            f"{MAX_CLASSES:,} classes"
        )
    images = data.reshape(-1, 3, 32, 32).astype(np.float32) / np.float32(255)
    return images, labels.astype(np.int64)


def _class_names(meta: Path | None, labels: list[tuple[Path, np.ndarray]]) -> list[str]:
    """Names from ``batches.meta`` when there is one, else ``"0"``, ``"1"``, … (at least ten)."""
    if meta is None:
        return [str(k) for k in range(max(10, *(int(y.max()) + 1 for _, y in labels)))]
    return _meta_names(meta, "label_names", labels)


def _meta_names(meta: Path, key: str, labels: list[tuple[Path, np.ndarray]]) -> list[str]:
    """The class names in entry ``key`` of the pickle ``meta``, checked to name every label of ``labels``."""
    content = _unpickle(meta)
    names = _entry(meta, content, key) if isinstance(content, dict) else None
    if not isinstance(names, list) or not names or not all(isinstance(n, (bytes, str)) for n in names):
        raise DatasetError(f"{meta}: entry {key!r} must be a non-empty list of names")
    names = [n.decode("utf-8", errors="replace") if isinstance(n, bytes) else n for n in names]
    for path, y in labels:
        if y.max() >= len(names):
            raise DatasetError(f"{path}: holds label {int(y.max())} but {meta} names only {len(names)} classes")
    return names


def _read_cifar_folder(path: Path) -> tuple[Split, Split | None, list[str]]:
    batches = sorted(
        (p for p in path.glob("data_batch_*") if _CIFAR_BATCH_NAME.fullmatch(p.name)),
        key=lambda p: int(p.name.rsplit("_", 1)[1]),
    )
    if not batches:
        raise DatasetError(f"{path}: has a test_batch but no training batches (data_batch_1 … data_batch_5)")
    parts = [(batch, *_read_batch(batch)) for batch in batches]
    test_path = path / "test_batch"
    test = _read_batch(test_path) if test_path.is_file() else None
    meta = path / "batches.meta"
    labelled = [(p, y) for p, _, y in parts] + ([(test_path, test[1])] if test else [])
    names = _class_names(meta if meta.is_file() else None, labelled)
    x = np.concatenate([x for _, x, _ in parts])
    y = np.concatenate([y for _, _, y in parts])
    return (x, y), test, names


def _read_cifar_file(path: Path) -> tuple[Split, None, list[str]]:
    x, y = _read_batch(path)
    meta = path.with_name("batches.meta")
    return (x, y), None, _class_names(meta if meta.is_file() else None, [(path, y)])


# --- CIFAR-100 python batches -----------------------------------------------------------------


def _check_cifar100_labels(path: Path, labels: object) -> None:
    if labels not in CIFAR100_LABELS:
        raise DatasetError(
            f"{path}: CIFAR-100 labels are 'fine' (100 classes) or 'coarse' (20 superclasses), got {labels!r}"
        )


def _read_cifar100(path: Path, labels: str) -> tuple[Split, Split | None, list[str]]:
    """A CIFAR-100 folder (``train``, ``meta``, optionally ``test``) or one of its two batch files.

    Parameters
    ----------
    path
        The folder (``cifar-100-python``), or its ``train`` or ``test`` file, which is
        then the training split.
    labels
        ``"fine"``: the 100 classes (entries ``fine_labels`` and ``fine_label_names``);
        ``"coarse"``: the 20 superclasses (``coarse_labels``, ``coarse_label_names``).

    Returns
    -------
    (train, test, class_names)
        ``(N, 3, 32, 32)`` float32 images with ``(N,)`` int64 labels; the test split is
        ``None`` when the folder has no ``test`` file (and for a single file).
    """
    _check_cifar100_labels(path, labels)
    folder = path if path.is_dir() else path.parent
    meta = folder / "meta"
    if not meta.is_file():
        raise DatasetError(f"{meta}: is missing; a CIFAR-100 folder needs it beside train for the class names")
    train_path = path / "train" if path.is_dir() else path
    test_path = path / "test" if path.is_dir() else None
    train = _read_batch(train_path, f"{labels}_labels")
    test = _read_batch(test_path, f"{labels}_labels") if test_path is not None and test_path.is_file() else None
    labelled = [(train_path, train[1])] + ([(test_path, test[1])] if test is not None else [])
    return train, test, _meta_names(meta, f"{labels}_label_names", labelled)


# --- image folders ----------------------------------------------------------------------------


def _read_image_folder(path: Path) -> tuple[Split, Split | None, list[str]]:
    """The training split, the test split (a ``test/`` sub-folder, else ``None``) and the class names."""
    splits, classes = _read_image_splits(path)
    return splits["train"], splits.get("test"), classes


def _read_image_splits(path: Path) -> tuple[dict[str, Split], list[str]]:
    """Every split of an image folder, decoded at one size, and the class names.

    Parameters
    ----------
    path
        A folder of class folders, or one with splits (:data:`SPLIT_FOLDERS`).

    Returns
    -------
    (splits, class_names)
        ``{"train": (x, y)}`` for a plain image folder; with splits also ``"val"`` and
        ``"test"`` where the folder has them. ``x`` is ``(N, C, H, W)`` float32 in
        [0, 1], ``y`` is ``(N,)`` int64. Every split is decoded at the size most common
        in the training split (others are resized, bilinear), in grey (``C = 1``) when
        every image is grey, else in RGB (``C = 3``).
    """
    # Imported here: train.py needs Pillow for image folders only.
    try:
        from PIL import Image
    except ImportError:
        raise DatasetError(f"{path}: is an image folder; reading it needs Pillow: pip install pillow") from None
    Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS
    classes, parts = _image_split_files(path)
    headers = {split: [_image_header(f) for f in files] for split, (files, _) in parts.items()}
    (width, height), _ = Counter(size for size, _ in headers["train"]).most_common(1)[0]
    mode = "L" if all(grey for found in headers.values() for _, grey in found) else "RGB"
    channels = 1 if mode == "L" else 3
    total = sum(len(files) for files, _ in parts.values())
    check_total_size(str(path), total, (channels, height, width), MAX_DATA_BYTES)
    splits: dict[str, Split] = {}
    for split, (files, labels) in parts.items():
        pixels = np.empty((len(files), height, width, channels), dtype=np.uint8)
        for i, file in enumerate(files):
            pixels[i] = _decode_image(file, mode, (width, height)).reshape(height, width, channels)
        x = pixels.transpose(0, 3, 1, 2).astype(np.float32) / np.float32(255)
        splits[split] = (x, np.array(labels, dtype=np.int64))
    return splits, classes


def _image_folder_files(path: Path) -> tuple[list[str], list[Path], list[int]]:
    """``(class names, image files, class index of each file)`` of an image folder's training split.

    For a folder with splits the class names are those of every split (see
    :func:`_image_split_files`), the files those of ``train/``.
    """
    classes, parts = _image_split_files(path)
    files, labels = parts["train"]
    return classes, files, labels


def _image_split_files(path: Path) -> tuple[list[str], dict[str, tuple[list[Path], list[int]]]]:
    """The class names and, per split, the image files and their class indices.

    A plain image folder has one split, ``"train"``: its sub-folders in name order are
    the classes. A folder with splits has ``"train"`` and, where present, ``"val"`` and
    ``"test"`` (:data:`SPLIT_FOLDERS`); its classes are the class folders of all its
    splits together, in name order, with the same index in every split (a class may
    be missing from a split). Other sub-folders of a folder with splits are ignored.

    Returns
    -------
    (class_names, {split: (files, labels)})
        ``files`` sorted by name within each class folder, ``labels`` their class indices.

    Raises
    ------
    DatasetError
        When fewer than 2 classes hold images, or a split folder holds none.
    """
    entries = _entries(path)
    folders = _split_folders(path, entries)
    if not folders:
        found = _class_images(path, entries)
        if len(found) < 2:
            held = f"only {next(iter(found))!r} has" if found else "none has"
            raise _unsupported(path, f"of its sub-folders {held} images; an image folder needs at least 2 classes")
        found_by_split = {"train": found}
    else:
        found_by_split = {}
        for split, folder in folders.items():
            found_by_split[split] = _class_images(folder, _entries(folder))
            if not found_by_split[split]:
                raise DatasetError(
                    f"{folder}: none of its sub-folders holds images; each split of an image folder "
                    "holds one sub-folder of images per class"
                )
    classes = sorted({name for found in found_by_split.values() for name in found})
    if len(classes) < 2:
        raise _unsupported(path, f"its splits hold images of only one class, {classes[0]!r}; it needs at least 2")
    index = {name: k for k, name in enumerate(classes)}
    parts: dict[str, tuple[list[Path], list[int]]] = {}
    for split, found in found_by_split.items():
        files = [file for images in found.values() for file in images]
        labels = [index[name] for name, images in found.items() for _ in images]
        parts[split] = (files, labels)
    return classes, parts


def _class_images(directory: Path, entries: list[Path]) -> dict[str, list[Path]]:
    """The image files of each sub-folder of ``directory`` that holds any, by sub-folder name, in name order."""
    found: dict[str, list[Path]] = {}
    for folder in _class_dirs(entries):
        images = sorted(f for f in folder.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES and f.is_file())
        if images:
            found[folder.name] = images
    return found


def _split_folders(path: Path, entries: list[Path]) -> dict[str, Path]:
    """The split sub-folders of an image folder with splits, ``{"train": …, "val": …, "test": …}``.

    A folder has splits when its ``train`` sub-folder (any case) holds sub-folders and
    no images of its own; a plain image folder (where ``train`` would be a class) gives
    ``{}``.

    Raises
    ------
    DatasetError
        When two sub-folders name the same split (``val/`` and ``valid/``).
    """
    named = [(SPLIT_FOLDERS[e.name.lower()], e) for e in _class_dirs(entries) if e.name.lower() in SPLIT_FOLDERS]
    train = next((folder for split, folder in named if split == "train"), None)
    if train is None:
        return {}
    inside = _entries(train)
    if any(f.suffix.lower() in IMAGE_SUFFIXES and f.is_file() for f in inside) or not _class_dirs(inside):
        return {}
    folders: dict[str, Path] = {}
    for split, folder in named:
        if split in folders:
            raise DatasetError(
                f"{path}: has both {folders[split].name}/ and {folder.name}/, two {split} splits; keep one"
            )
        folders[split] = folder
    return folders


def _image_header(file: Path) -> tuple[tuple[int, int], bool]:
    """``((width, height), is_greyscale)`` of ``file`` from its header, with the pixel cap checked."""
    from PIL import Image

    try:
        with warnings.catch_warnings():
            # Pillow only warns between the cap and twice the cap; both are refused here.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(file, formats=IMAGE_FORMATS) as image:
                return image.size, image.mode in _GREY_MODES
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise DatasetError(
            f"{file}: is larger than {MAX_IMAGE_PIXELS:,} pixels, the limit for images in a dataset"
        ) from None
    except PIL_ERRORS as exc:
        raise DatasetError(f"{file}: is not a readable image: {exc}") from None


def _decode_image(file: Path, mode: str, size: tuple[int, int]) -> np.ndarray:
    """Pixels of ``file`` in ``mode`` ("L" or "RGB") resized to ``size``: uint8 ``(H, W)`` or ``(H, W, 3)``."""
    from PIL import Image

    try:
        with Image.open(file, formats=IMAGE_FORMATS) as image:
            if image.mode.startswith("I;16"):
                # Pillow clamps 16-bit grey at 255 when converting to "L"; keep the top 8 bits instead.
                image = Image.fromarray((np.asarray(image) >> 8).astype(np.uint8))
            converted = image.convert(mode)
            if converted.size != size:
                converted = converted.resize(size, Image.Resampling.BILINEAR)
            return np.asarray(converted, dtype=np.uint8)
    except PIL_ERRORS as exc:
        raise DatasetError(f"{file}: is not a readable image: {exc}") from None
