"""``train.py`` and ``data.npz`` of a PyTorch project: the training as ``layerwise train`` runs it.

The script trains the module of ``model.py`` starting from ``weights.safetensors`` (the
weights the project was exported with, so that both trainers start alike), draws each
epoch's batch order from ``numpy.random.default_rng(seed)`` exactly as the engine's
trainer does, fuses cross-entropy with a final Softmax or LogSoftmax, penalises the same
kernels with L1/L2, leaves frozen layers as they are (``model.py``'s ``FROZEN``; frozen
BatchNorm layers normalise with their running statistics), steps every other layer at the
rate times its multiplier (``trainable_groups``), and writes a Layerwise run log. Settings the script does not
reproduce are refused here, by name, before anything is written.

``train.py --dataset PATH`` reads what Layerwise imports (IDX, ``.npz``, CIFAR-10 batches,
image folders) with Layerwise's own readers, copied into it from their source in
:mod:`core.data.importers`, so both read the same arrays from the same files and refuse the
same hostile ones. Where the network's Input resizes image files (its ``resize``), an image
folder's images are fitted as it says instead: the shorter side resized and the centre cropped
(:func:`core.data.sample_images.fit_image`'s rule); the pixels stay raw, in ``[0, 1]``, for
``model.py`` normalises them itself.

Nothing here imports torch. :func:`core.torch_export.project.train_source` writes every
value of the :class:`~core.training.trainer.TrainingConfig` and every name from the network
into the constants as a literal.
"""

from __future__ import annotations

import ast
import functools
import inspect
import io
from collections.abc import Iterable
from dataclasses import dataclass, field
from types import ModuleType

import numpy as np

from core import safe_npz, shapes
from core.data import Dataset, dataset, importers
from core.layers.torch_writer import TorchExportError
from core.training import augment, schedules
from core.training.trainer import TrainingConfig

TRAIN_FILE = "train.py"
DATA_FILE = "data.npz"

SUPPORTED_AUGMENTATIONS = frozenset({"noise", "shift", "flip", "rotate", "resample", "sample"})
"""Augmentation kinds ``train.py`` reproduces; any other is refused at export."""


@dataclass(frozen=True)
class TrainingData:
    """The data a project is exported with: the engine's training and validation parts."""

    name: str
    train_x: np.ndarray
    train_y: np.ndarray
    val_x: np.ndarray | None
    val_y: np.ndarray | None
    class_names: list[str]

    @classmethod
    def from_split(cls, train: Dataset, val: Dataset | None) -> TrainingData:
        """The training and validation parts of a dataset; an empty or missing validation part is none."""
        held_out = val if val is not None and len(val) else None
        return cls(
            train.name,
            train.x,
            train.y,
            held_out.x if held_out is not None else None,
            held_out.y if held_out is not None else None,
            list(train.class_names),
        )


@dataclass(frozen=True)
class TrainingSetup:
    """What ``train.py`` reproduces: the settings, the validation share and, when given, the data."""

    config: TrainingConfig = field(default_factory=TrainingConfig)
    val_split: float = 0.2
    data: TrainingData | None = None
    train_subset: int | None = None
    """Train on this many random training samples of a ``--dataset`` given to ``train.py`` (``data.npz`` has them already)."""


def check_supported(config: TrainingConfig) -> None:
    """Refuse, naming it, a setting ``train.py`` does not reproduce yet."""
    for kind in sorted(config.augment.kinds - SUPPORTED_AUGMENTATIONS):
        raise TorchExportError(f"augmentation {kind!r} is not written to train.py yet; switch it off to export")
    if config.probe_samples:
        raise TorchExportError(
            "activation probes (probe_samples) are not written to train.py yet; set them to 0 to export"
        )


def data_bytes(data: TrainingData) -> bytes:
    """``data.npz``: ``x_train``, ``y_train``, ``x_val``, ``y_val`` (when validated) and ``class_names``.

    Layerwise imports it too (as ``x_train`` and ``y_train``); only arrays of numbers and
    text are stored, so nothing needs unpickling.
    """
    arrays = {"x_train": data.train_x, "y_train": data.train_y}
    if data.val_x is not None and data.val_y is not None:
        arrays |= {"x_val": data.val_x, "y_val": data.val_y}
    arrays["class_names"] = np.array(data.class_names, dtype=str)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)  # type: ignore[arg-type]
    return buffer.getvalue()


def render(constants: list[str], network_comment: str) -> str:
    """The text of ``train.py`` from its constant lines (``NAME = literal``) and the network's name as a comment."""
    header = [
        '"""Train the network of model.py as ``layerwise train`` does; ``python train.py --help`` lists the flags."""',
        "",
        "# Written by Layerwise (layerwise export-pytorch).",
        f"# Network: {network_comment}",
    ]
    kernels = "\n\n".join(inspect.getsource(function).rstrip() for function in _IMAGE_KERNELS)
    body = (
        _TEMPLATE.replace("@CONSTANTS@", "\n".join(constants))
        .replace("@DATASET_READERS@", dataset_readers_source())
        .replace("@IMAGE_KERNELS@", kernels)
        .replace("@SCHEDULES@", _definitions(schedules, _SCHEDULE_NAMES))
    )
    return "\n".join(header) + "\n" + body


@functools.cache
def dataset_readers_source() -> str:
    """Layerwise's dataset readers as ``train.py`` holds them: each definition of :data:`_DATASET_READERS`, as written."""
    return "\n\n\n".join(_definitions(module, names) for module, names in _DATASET_READERS)


def _definitions(module: ModuleType, names: Iterable[str]) -> str:
    """The top-level statements of ``module`` that define ``names`` (functions, classes, constants), as written there.

    They keep the module's order, a constant keeps the docstring below it, and
    statements that are neighbours there stay neighbours, blank lines and comments
    between them included. A name that ``module`` does not define raises ``LookupError``.
    """
    source = inspect.getsource(module)
    lines = source.splitlines()
    body = ast.parse(source).body
    wanted = set(names)
    kept: list[int] = []
    for index, node in enumerate(body):
        defined = _defined_names(node)
        if defined & wanted:
            kept.append(index)
            wanted -= defined
        elif (
            _is_docstring(node)
            and kept
            and kept[-1] == index - 1
            and isinstance(body[index - 1], (ast.Assign, ast.AnnAssign))
        ):
            kept.append(index)
    if wanted:
        raise LookupError(f"{module.__name__} does not define {', '.join(sorted(wanted))}")
    chunks: list[str] = []
    for position, index in enumerate(kept):
        node = body[index]
        if position and kept[position - 1] == index - 1:
            chunks[-1] += "\n" + "\n".join(lines[body[index - 1].end_lineno : node.end_lineno])
        else:
            first = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
            chunks.append("\n".join(lines[first - 1 : node.end_lineno]))
    return "\n\n\n".join(chunks)


def _defined_names(node: ast.stmt) -> set[str]:
    if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
        return {node.name}
    if isinstance(node, ast.Assign):
        return {target.id for target in node.targets if isinstance(target, ast.Name)}
    if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
        return {node.target.id}
    return set()


def _is_docstring(node: ast.stmt) -> bool:
    return isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)


_IMAGE_KERNELS = (
    augment._padded,
    augment._padded_index,
    augment.flip_images,
    augment.shift_images,
    augment.rotate_images,
)
"""The augmentation's image transforms, written into ``train.py`` from their source here: one place for each."""

_SCHEDULE_NAMES = (
    "ONECYCLE_PCT_START",
    "ONECYCLE_DIV_FACTOR",
    "ONECYCLE_FINAL_DIV_FACTOR",
    "PLATEAU_THRESHOLD",
    "PLATEAU_EPS",
    "scheduled_rate",
    "Plateau",
)
"""The learning-rate schedules (:mod:`core.training.schedules`), written into ``train.py`` from their source."""

_DATASET_READERS: tuple[tuple[ModuleType, tuple[str, ...]], ...] = (
    (shapes, ("Shape", "format_shape")),
    (safe_npz, ("READ_CHUNK", "read_at_most")),
    (dataset, ("check_total_size",)),
    (
        importers,
        (
            # what to read and its limits
            "SUPPORTED_FORMATS", "MAX_DATA_BYTES", "MAX_BATCH_FILE_BYTES", "MAX_IMAGE_PIXELS", "MAX_CLASSES",
            "IMAGE_SUFFIXES", "IMAGE_FORMATS", "PIL_ERRORS", "_IDX_IMAGES_MAGIC", "_IDX_LABELS_MAGIC",
            "_GREY_MODES", "_CIFAR_BATCH_NAME", "CIFAR100_LABELS", "CIFAR100_PARTS", "SPLIT_FOLDERS", "Split",
            # which format a path holds
            "dataset_kind", "read_dataset", "_unsupported", "_entries", "_class_dirs", "_file_kind",
            "_open_binary", "_peek",
            # IDX
            "_idx_file", "_labels_beside", "_read_idx", "_read_idx_pair", "_digit_names", "_read_idx_folder",
            "_read_idx_file",
            # CIFAR-10 python batches, through an unpickler that rebuilds NumPy arrays only
            "_NUMPY_RECONSTRUCT", "_NdarrayType", "_reconstruct", "_ALLOWED_GLOBALS", "_BatchUnpickler",
            "PICKLE_ERRORS", "_MEMO_STORES", "_unpickle", "_check_opcodes", "_entry", "_read_batch",
            "_class_names", "_meta_names", "_read_cifar_folder", "_read_cifar_file",
            # CIFAR-100 python batches, through the same unpickler
            "_check_cifar100_labels", "_read_cifar100",
            # image folders, with or without train/, val/ and test/ splits
            "_read_image_folder", "_read_image_splits", "_image_folder_files", "_image_split_files",
            "_class_images", "_split_folders", "_image_header", "_decode_image",
        ),
    ),
)  # fmt: skip
"""Layerwise's dataset readers (:func:`core.data.importers.dataset_kind` and
:func:`~core.data.importers.read_dataset`) and all they use, written into ``train.py`` from
their source; there ``DatasetError`` is a class of its own."""


_TEMPLATE = r'''
from __future__ import annotations

import argparse
import gzip
import io
import json
import math
import os
import pickle
import pickletools
import re
import struct
import sys
import time
import warnings
import zipfile
import zlib
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.nn import functional as F

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from model import INPUT_SHAPE, NETWORK_NAME, build_model, trainable_groups  # noqa: E402

DATA = HERE / "data.npz"
EVAL_BATCH = 512
WRITER = "train.py (layerwise export-pytorch)"

# The settings the project was exported with (as `layerwise train` takes them).
@CONSTANTS@


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description="Train the network of model.py as `layerwise train` does.")
    parser.add_argument(
        "--dataset",
        metavar="PATH",
        default=None,
        help="what Layerwise imports: a .npz file, an MNIST IDX folder or images file, a CIFAR-10 batch folder or "
        "file, or a folder with one sub-folder of images per class (needs Pillow) (default: data.npz beside this "
        "script)",
    )
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    parser.add_argument("--batch-size", type=int, default=BATCH_SIZE)
    parser.add_argument("--lr", type=float, default=LEARNING_RATE, help="learning rate")
    parser.add_argument("--seed", type=int, default=SEED, help="batch order, validation split of --dataset, dropout")
    parser.add_argument("--device", default=None, help="cpu, cuda or mps (default: cuda when there is one, else cpu)")
    parser.add_argument(
        "--log",
        "--run-log",
        dest="log",
        metavar="RUN.jsonl",
        help="write a Layerwise run log (File > Open Run Log); under torchrun spell it --run-log",
    )
    parser.add_argument("--name", help="the run's name in the log")
    parser.add_argument("--out", metavar="DIR", help="write last.safetensors and best.safetensors here")
    args = parser.parse_args(argv)
    for name in ("epochs", "batch_size"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if not (math.isfinite(args.lr) and args.lr > 0):
        parser.error("--lr must be above 0")
    return args


# -- data ---------------------------------------------------------------------------------------


def proportional_counts(sizes, total):
    exact = sizes * (total / sizes.sum())
    shares = np.floor(exact).astype(np.int64)
    leftover = total - int(shares.sum())
    shares[np.argsort(-(exact - shares), kind="stable")[:leftover]] += 1
    return shares


def split(x, y, val_fraction, seed):
    """Layerwise's split: the validation share taken class by class, the same for the same seed."""
    labels, sizes = np.unique(y, return_counts=True)
    quotas = proportional_counts(sizes, round(len(y) * val_fraction))
    quotas = np.where(sizes >= 2, np.clip(quotas, 1, sizes - 1), 0)
    if not quotas.any():
        sys.exit("cannot split off a validation part: no class has 2 or more samples")
    rng = np.random.default_rng(seed)
    in_val = np.zeros(len(y), dtype=bool)
    for label, quota in zip(labels, quotas, strict=True):
        in_val[rng.permutation(np.flatnonzero(y == label))[:quota]] = True
    return (x[~in_val], y[~in_val]), (x[in_val], y[in_val])


def samples(x):
    if x.ndim == 3:
        x = x[:, None]
    elif x.ndim == 4 and x.shape[-1] in (1, 3, 4) and x.shape[1] not in (1, 3, 4):
        x = x.transpose(0, 3, 1, 2)[:, :3]
    x = x.astype(np.float32) / np.float32(255) if x.dtype == np.uint8 else x.astype(np.float32)
    return np.ascontiguousarray(x)


def read_npz(path):
    """The arrays of a .npz archive, by name; no pickles."""
    if not zipfile.is_zipfile(path):
        raise DatasetError(f"{path}: is not a .npz archive (a zip file of .npy arrays, as numpy.savez writes)")
    try:
        with np.load(path, allow_pickle=False) as archive:
            return {key: archive[key] for key in archive.files}
    except (OSError, EOFError, ValueError, zipfile.BadZipFile, zlib.error, NotImplementedError) as exc:
        raise DatasetError(f"{path}: is not a readable .npz file: {exc}") from None


def npz_dataset(path, arrays):
    """Samples, labels as class indices and the class count of a Layerwise-style .npz, as Layerwise imports it."""
    if "x_train" in arrays and "y_train" in arrays:
        x, y = arrays["x_train"], arrays["y_train"]
        values = np.unique(np.concatenate([y.ravel(), arrays["y_test"].ravel()]) if "y_test" in arrays else y)
    elif "x" in arrays and "y" in arrays:
        x, y = arrays["x"], arrays["y"]
        values = np.unique(y)
    else:
        sys.exit(f"{path}: needs arrays x_train and y_train (optionally x_test and y_test) or x and y")
    return samples(x), np.searchsorted(values, y.reshape(len(y))).astype(np.int64), len(values)


def load_data(path, seed):
    """Training and validation arrays (validation None without a split) and the class count.

    IDX, CIFAR-10 and image folders are read by Layerwise's own readers (below), .npz files as Layerwise
    imports them; a bad file ends the script with a message naming it.
    """
    path = Path(path)
    try:
        kind = dataset_kind(path)
        if kind == "npz":
            arrays = read_npz(path)
        elif kind == "images" and RESIZE:  # each image fitted as the Input says; the model normalises them itself
            (x, y), _test, class_names = read_fitted_image_folder(path, INPUT_SHAPE, RESIZE)
        else:  # a test part, where the source has one, stays unseen, as in Layerwise
            (x, y), _test, class_names = read_dataset(path, kind)
    except DatasetError as exc:
        sys.exit(str(exc))
    if kind != "npz":
        x, classes = np.ascontiguousarray(x), len(class_names)
    elif "class_names" in arrays:  # a project's data.npz: the split as Layerwise made it, labels as indices
        classes = len(arrays["class_names"])
        train = (arrays["x_train"], arrays["y_train"].astype(np.int64))
        if "x_val" not in arrays:
            return train, None, classes
        return train, (arrays["x_val"], arrays["y_val"].astype(np.int64)), classes
    else:
        x, y, classes = npz_dataset(path, arrays)
    if not 0 <= VAL_SPLIT < 1:
        sys.exit(f"the validation share must lie in [0, 1), got {VAL_SPLIT}")
    train, val = ((x, y), None) if VAL_SPLIT == 0 else split(x, y, VAL_SPLIT, seed)
    if TRAIN_SUBSET is not None:  # as `layerwise train --train-subset`
        if not 1 <= TRAIN_SUBSET <= len(train[1]):
            sys.exit(f"the training subset must be between 1 and {len(train[1])}, got {TRAIN_SUBSET}")
        chosen = np.sort(np.random.default_rng(seed).permutation(len(train[1]))[:TRAIN_SUBSET])
        train = (train[0][chosen], train[1][chosen])
    return train, val, classes


# -- datasets: Layerwise's readers (core/data/importers.py), every file treated as hostile ---------------


class DatasetError(Exception):
    """A dataset that cannot be read; the message starts with the offending file's path."""


@DATASET_READERS@


def read_fitted_image_folder(path, shape, shorter):
    """An image folder read as the network's Input fits image files (its resize): pixels in [0, 1], (N, C, H, W).

    Classes and files are found as Layerwise's reader finds them; each image is converted to the
    input's channels (RGB for 3, else grey, repeated), its shorter side resized to `shorter`
    (bilinear) and the centre H×W of `shape` (C, H, W) cropped, as torchvision's Resize and
    CenterCrop do.
    """
    try:
        from PIL import Image
    except ImportError:
        raise DatasetError(f"{path}: is an image folder; reading it needs Pillow: pip install pillow") from None
    Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS
    channels, height, width = shape
    classes, files, labels = _image_folder_files(path)
    sizes = [_image_header(file)[0] for file in files]  # the pixel cap checked before anything is decoded
    check_total_size(str(path), len(files), (channels, height, width), MAX_DATA_BYTES)
    mode = "RGB" if channels == 3 else "L"
    x = np.empty((len(files), channels, height, width), dtype=np.float32)
    for i, (file, (w, h)) in enumerate(zip(files, sizes, strict=True)):
        size = (shorter, int(shorter * h / w)) if w <= h else (int(shorter * w / h), shorter)
        pixels = _decode_image(file, mode, size).reshape(size[1], size[0], -1)
        top, left = int(round((size[1] - height) / 2.0)), int(round((size[0] - width) / 2.0))
        crop = pixels[top : top + height, left : left + width].transpose(2, 0, 1)
        x[i] = crop.astype(np.float32) / np.float32(255)  # one grey channel fills every channel
    return (x, np.array(labels, dtype=np.int64)), None, classes


# -- augmentation: Layerwise's, draw for draw from the same generator --------------------------------


@IMAGE_KERNELS@


# -- learning-rate schedules: Layerwise's, as written there ----------------------------------------


@SCHEDULES@


def schedule_settings():
    """The schedule as a Layerwise run log holds it: its kind and the parameters it reads."""
    values = {
        "step_size": STEP_SIZE,
        "gamma": GAMMA,
        "milestones": list(MILESTONES),
        "warmup_epochs": WARMUP_EPOCHS,
        "min_lr": MIN_LR,
        "factor": PLATEAU_FACTOR,
        "patience": PLATEAU_PATIENCE,
    }
    return {"kind": SCHEDULE, **{name: values[name] for name in SCHEDULE_PARAMETERS}}


def class_weight_values(labels, classes):
    """CLASS_WEIGHTS as one float64 weight per class, or None: "balanced" is n / (classes · count)."""
    if CLASS_WEIGHTS is None:
        return None
    if CLASS_WEIGHTS == "balanced":
        counts = np.bincount(labels, minlength=classes)
        if (counts == 0).any():
            sys.exit(
                f"class weights 'balanced' need every class in the training data; class "
                f"{int(np.flatnonzero(counts == 0)[0])} has no sample"
            )
        return len(labels) / (classes * counts.astype(np.float64))
    if len(CLASS_WEIGHTS) != classes:
        sys.exit(f"CLASS_WEIGHTS holds {len(CLASS_WEIGHTS)} weights, but the data has {classes} classes")
    return np.array(CLASS_WEIGHTS, dtype=np.float64)


class Augmenter:
    """The kinds in AUGMENT, applied to a batch in Layerwise's order: sample, flip, shift, rotate, noise."""

    def __init__(self, kinds, x, y):
        self.kinds = frozenset(kinds)
        self.stats = None
        if "sample" in self.kinds:  # one Gaussian per class (diagonal), fitted to the training data
            flat = x.reshape(len(x), -1)
            classes = np.unique(y)
            means = [flat[y == label].mean(axis=0, dtype=np.float64) for label in classes]
            stds = [flat[y == label].std(axis=0, dtype=np.float64) for label in classes]
            self.stats = (
                classes.astype(np.int64),
                np.stack(means),
                np.stack(stds),
                float(flat.min()),
                float(flat.max()),
            )

    def order(self, n, rng):
        if "resample" in self.kinds:
            return rng.integers(0, n, size=n, dtype=np.int64)
        return rng.permutation(n).astype(np.int64, copy=False)

    def apply(self, x, y, rng):
        kinds = self.kinds - {"resample"}
        if x.ndim != 4:
            kinds -= {"shift", "flip", "rotate"}
        if not kinds:
            return x, y
        out = x.astype(np.float32)
        labels = y.astype(np.int64)
        n = len(out)
        if "sample" in kinds:
            classes, mean, std, low, high = self.stats
            chosen = rng.choice(n, size=round(SYNTHETIC_FRACTION * n), replace=False)
            wanted = labels[chosen]
            index = np.minimum(np.searchsorted(classes, wanted), len(classes) - 1)
            noise = rng.standard_normal((len(chosen), mean.shape[1]))
            draws = mean[index] + std[index] * noise
            out[chosen] = np.clip(draws, low, high).reshape((len(chosen), *out.shape[1:]))
        if "flip" in kinds:
            out = flip_images(out, rng.random(n) < 0.5)
        if "shift" in kinds:
            offsets = rng.integers(-MAX_SHIFT, MAX_SHIFT + 1, size=(2, n))
            out = shift_images(out, offsets[0], offsets[1])
        if "rotate" in kinds:
            out = rotate_images(out, rng.uniform(-MAX_ROTATION, MAX_ROTATION, size=n))
        if "noise" in kinds:
            out += rng.standard_normal(out.shape, dtype=np.float32) * np.float32(NOISE_STD)
        return out, labels


# -- training -------------------------------------------------------------------------------------


class EarlyStopping:
    """Layerwise's rule: stop once `patience` epochs in a row bring no new best (by more than min_delta)."""

    def __init__(self, patience, monitor, min_delta):
        self.patience, self.monitor, self.min_delta = patience, monitor, min_delta
        self.best_epoch = self.best_value = None
        self.since_best = 0

    def update(self, epoch, value):
        if not math.isfinite(value):
            improved = False
        elif self.best_value is None:
            improved = True
        elif self.monitor == "val_loss":
            improved = value < self.best_value - self.min_delta
        else:
            improved = value > self.best_value + self.min_delta
        if improved:
            self.best_epoch, self.best_value, self.since_best = epoch, value, 0
        else:
            self.since_best += 1
        return improved, self.patience is not None and self.since_best >= self.patience


class RunLog:
    """Layerwise's run-log format (docs/training.md): one JSON object per line."""

    def __init__(self, path, run):
        self.stream = open(path, "w", encoding="utf-8")  # noqa: SIM115
        self.header = {"format": "layerwise-run-log", "version": 1}
        if run is not None:
            self.header["run"] = run
        started = datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")
        self.header |= {"started": started, "writer": WRITER}
        self.flushed = time.monotonic()

    def write(self, event, **fields):
        data = {"event": event, **(self.header if event == "TrainingStarted" else {}), **fields}
        self.stream.write(json.dumps(data, allow_nan=True, ensure_ascii=False) + "\n")
        now = time.monotonic()
        if event != "BatchEnded" or now - self.flushed >= 1.0:
            self.stream.flush()
            self.flushed = now

    def close(self):
        self.stream.close()


def pick_device(name, local_rank):
    if name is None:
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda":
        if not torch.cuda.is_available():
            sys.exit("--device cuda: PyTorch finds no CUDA device")
        torch.cuda.set_device(local_rank)
        return torch.device("cuda", local_rank)
    if name == "mps" and not torch.backends.mps.is_available():
        sys.exit("--device mps: PyTorch finds no MPS device")
    if name not in ("cpu", "mps"):
        sys.exit(f"--device must be cpu, cuda or mps, got {name!r}")
    return torch.device(name)


def batch_loss(scores, y, classes, weight=None, smoothing=0.0):
    """The summed data loss of a batch; divided by the summed weights of its labels (its size unweighted), the mean."""
    if LOSS == "cross_entropy":
        return F.cross_entropy(scores, y, weight=weight, label_smoothing=smoothing, reduction="sum")
    return F.mse_loss(scores, F.one_hot(y, classes).to(scores.dtype), reduction="sum") / classes


def penalty_of(weights, l1, l2):
    """l1·Σ|w| + l2·Σw² over the kernels the engine penalises."""
    total = torch.zeros((), device=weights[0].device) if weights else torch.zeros(())
    for weight in weights:
        if l1:
            total = total + l1 * weight.abs().sum()
        if l2:
            total = total + l2 * (weight * weight).sum()
    return total


def evaluate(model, x, y, classes, device, rank, world):
    """Mean data loss and accuracy over (x, y) in inference mode, each process taking every world-th sample."""
    model.eval()
    sums = torch.zeros(2, dtype=torch.float64, device=device)
    part_x, part_y = x[rank::world], y[rank::world]
    with torch.no_grad():
        for start in range(0, len(part_y), EVAL_BATCH):
            xb = torch.from_numpy(part_x[start : start + EVAL_BATCH]).to(device)
            yb = torch.from_numpy(part_y[start : start + EVAL_BATCH]).to(device)
            scores = model(xb)
            sums[0] += batch_loss(scores, yb, classes).double()
            sums[1] += (scores.argmax(1) == yb).sum().double()
    if world > 1:
        dist.all_reduce(sums)
    return sums[0].item() / len(y), sums[1].item() / len(y)


def cpu_state(model):
    return {key: value.detach().cpu().contiguous().clone() for key, value in model.state_dict().items()}


def main(argv=None):
    args = parse_args(argv)
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank, local_rank = int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0"))
    device = pick_device(args.device, local_rank)
    if world > 1:
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    lead = rank == 0
    say = print if lead else (lambda *a, **k: None)

    if len(OUTPUT_SHAPE) != 1:
        sys.exit(
            f"the network outputs N×{'×'.join(map(str, OUTPUT_SHAPE))}; train.py trains classifiers (class scores)"
        )
    source = Path(args.dataset) if args.dataset else DATA
    if not args.dataset and not DATA.exists():
        sys.exit("no data.npz beside train.py (export with --dataset): give --dataset PATH")
    train, val, classes = load_data(source, args.seed)
    train_x, train_y = train
    if classes != OUTPUT_SHAPE[0]:
        sys.exit(f"the network outputs {OUTPUT_SHAPE[0]} class scores, but {source} has {classes} classes")
    if EARLY_STOPPING and val is None:
        sys.exit("early stopping needs validation data; the data has no validation part")
    if SCHEDULE == "plateau" and val is None:
        sys.exit("the plateau schedule follows val_loss and needs validation data; the data has no validation part")
    dataset_name = DATASET_NAME if source == DATA and DATASET_NAME else source.stem

    torch.manual_seed(args.seed + rank)  # dropout masks
    rng = np.random.default_rng(args.seed)  # batch order: the engine's, draw for draw
    module = build_model()  # starts from weights.safetensors
    if FUSED_SOFTMAX is not None and LOSS == "cross_entropy":
        setattr(module, FUSED_SOFTMAX, nn.Identity())  # cross-entropy reads the scores before Softmax, fused
    if not DROPOUT:
        for layer in module.modules():
            if isinstance(layer, nn.Dropout):
                layer.p = 0.0
    module.to(device)
    parameters = dict(module.named_parameters())
    penalised = [parameters[key] for key in REGULARIZED]
    weight_values = class_weight_values(train_y, classes)
    weight = None if weight_values is None else torch.tensor(weight_values, dtype=torch.float32, device=device)
    plateau = Plateau(PLATEAU_FACTOR, PLATEAU_PATIENCE) if SCHEDULE == "plateau" else None
    # Frozen layers' parameters stay out; the others train at the rate times their layer's multiplier.
    groups = trainable_groups(module, args.lr)
    trained = [parameter for group in groups for parameter in group["params"]]
    if not groups:
        optimizer = None  # nothing trains: the steps only measure
    elif OPTIMIZER == "adam":
        optimizer = torch.optim.Adam(groups, lr=args.lr, betas=ADAM_BETAS, eps=ADAM_EPS)
    elif OPTIMIZER == "adamw":  # decoupled weight decay on every parameter that trains, as Layerwise's AdamW
        optimizer = torch.optim.AdamW(groups, lr=args.lr, betas=ADAM_BETAS, eps=ADAM_EPS, weight_decay=WEIGHT_DECAY)
    elif OPTIMIZER == "rmsprop":
        optimizer = torch.optim.RMSprop(groups, lr=args.lr, alpha=RMSPROP_ALPHA, eps=RMSPROP_EPS)
    elif OPTIMIZER == "momentum":
        optimizer = torch.optim.SGD(groups, lr=args.lr, momentum=MOMENTUM, nesterov=NESTEROV)
    else:
        optimizer = torch.optim.SGD(groups, lr=args.lr)
    model = module
    if world > 1:
        model = nn.parallel.DistributedDataParallel(
            module, device_ids=[device.index] if device.type == "cuda" else None
        )

    n, size = len(train_y), args.batch_size
    batches = -(-n // size)
    if world > 1 and min(size, n - (batches - 1) * size) < world:
        sys.exit(
            f"every batch must hold at least one sample per process: choose --batch-size so that the last of "
            f"{n:,} samples' batches holds {world} or more"
        )
    settings = {
        "epochs": args.epochs,
        "batch_size": size,
        "learning_rate": args.lr,
        "optimizer": OPTIMIZER,
        "momentum": MOMENTUM,
        "nesterov": NESTEROV,
        "loss": LOSS,
        "l1": L1,
        "l2": L2,
        "dropout": DROPOUT,
        "augment": {
            "kinds": list(AUGMENT),
            "noise_std": NOISE_STD,
            "max_shift": MAX_SHIFT,
            "max_rotation": MAX_ROTATION,
            "synthetic_fraction": SYNTHETIC_FRACTION,
        },
        "early_stopping": EARLY_STOPPING,
        "monitor": MONITOR,
        "min_delta": MIN_DELTA,
        "restore_best": RESTORE_BEST,
        "seed": args.seed,
        "schedule": schedule_settings(),
        "weight_decay": WEIGHT_DECAY,
        "clip_norm": CLIP_NORM,
        "label_smoothing": LABEL_SMOOTHING,
        "class_weights": list(CLASS_WEIGHTS) if isinstance(CLASS_WEIGHTS, tuple) else CLASS_WEIGHTS,
        "val_split": VAL_SPLIT,
        "train_subset": TRAIN_SUBSET,
        "device": str(device),
        "processes": world,
    }
    log = RunLog(args.log, args.name) if args.log and lead else None
    out = Path(args.out) if args.out else None
    if out is not None and lead:
        out.mkdir(parents=True, exist_ok=True)
    val_count = len(val[1]) if val is not None else 0
    say(
        f"Training {NETWORK_NAME} on {dataset_name}: {n:,} training / {val_count:,} validation samples, "
        f"{PARAMETERS:,} parameters, {batches} batches per epoch, {world} process(es) on {device}"
    )
    if log:
        log.write(
            "TrainingStarted",
            network=NETWORK_NAME,
            dataset=dataset_name,
            train_samples=n,
            val_samples=val_count,
            parameters=PARAMETERS,
            epochs=args.epochs,
            batches_per_epoch=batches,
            settings=settings,
        )

    def save(name, state):
        if out is not None and lead:
            from safetensors.torch import save_file

            save_file(state, str(out / name), metadata={"format": "pt"})

    augmenter = Augmenter(
        AUGMENT, train_x, train_y
    )  # every process augments the whole batch alike, then takes its share
    early = EarlyStopping(EARLY_STOPPING, MONITOR, MIN_DELTA)
    best_state = None
    started = time.perf_counter()
    reason, message, epochs_run = "completed", None, 0
    rate = args.lr
    for epoch in range(1, args.epochs + 1):
        epoch_start = time.perf_counter()
        order = augmenter.order(n, rng)
        sums = np.zeros(4)  # loss, data loss, penalty, correct
        model.train()  # model.py keeps frozen BatchNorm layers in inference mode
        for batch in range(1, batches + 1):
            index = order[(batch - 1) * size : batch * size]
            count = len(index)
            x_batch, y_batch = augmenter.apply(train_x[index], train_y[index], rng)
            # The schedule scales from --lr (the base), per epoch or, for onecycle, per batch.
            rate = scheduled_rate(
                SCHEDULE, args.lr, epoch, batch, args.epochs, batches, STEP_SIZE, GAMMA, MILESTONES, WARMUP_EPOCHS,
                MIN_LR,
            )  # fmt: skip
            if plateau is not None:
                rate *= plateau.scale
            for group in optimizer.param_groups if optimizer is not None else ():
                group["lr"] = rate * group["lr_multiplier"]
            # The weighted mean divides by the summed weights of the whole batch's labels (its size unweighted).
            total = count if weight_values is None else float(weight_values[y_batch].sum())
            xb = torch.from_numpy(np.ascontiguousarray(x_batch[rank::world])).to(device)
            yb = torch.from_numpy(np.ascontiguousarray(y_batch[rank::world])).to(device)
            scores = model(xb)
            summed = batch_loss(scores, yb, classes, weight, LABEL_SMOOTHING)
            penalty = penalty_of(penalised, L1, L2)
            stats = torch.stack([summed.detach().double(), (scores.argmax(1) == yb).sum().double()])
            if world > 1:
                dist.all_reduce(stats)
            data_loss, correct = stats[0].item() / total, int(stats[1].item())
            penalty_value = float(penalty.item())
            if not math.isfinite(data_loss + penalty_value):
                reason = "diverged"
                message = (
                    f"the loss became {data_loss + penalty_value} in epoch {epoch}, batch {batch}; training "
                    f"stopped and the weights from before that step are kept (try a learning rate below {rate:g})"
                )
                break
            if optimizer is not None:
                optimizer.zero_grad(set_to_none=True)
                # Each process's share of the batch's mean: DistributedDataParallel averages over the processes.
                (summed * (world / total) + penalty).backward()
                if CLIP_NORM is not None:  # after DistributedDataParallel has averaged; frozen layers have no gradient
                    torch.nn.utils.clip_grad_norm_(trained, CLIP_NORM)
                optimizer.step()
            sums += (data_loss + penalty_value, data_loss, penalty_value, correct)
            if log:
                log.write(
                    "BatchEnded",
                    epoch=epoch,
                    batch=batch,
                    batches=batches,
                    loss=data_loss + penalty_value,
                    data_loss=data_loss,
                    penalty=penalty_value,
                    accuracy=correct / count,
                    elapsed=time.perf_counter() - started,
                )
        if reason == "diverged":
            break
        epochs_run = epoch
        val_loss = val_accuracy = None
        if val is not None:
            val_loss, val_accuracy = evaluate(module, val[0], val[1], classes, device, rank, world)
            if plateau is not None:
                plateau.update(val_loss, args.lr)  # the same loss on every process: the same rate
        means = sums[:3] / batches
        seconds = time.perf_counter() - epoch_start
        line = f"epoch {epoch:>{len(str(args.epochs))}}/{args.epochs}  train loss {means[0]:.4f} acc {sums[3] / n:6.2%}"
        if means[2]:
            line += f" (data {means[1]:.4f} + penalty {means[2]:.4f})"
        if val_loss is not None:
            line += f"  |  val loss {val_loss:.4f} acc {val_accuracy:6.2%}"
        line += f"  {seconds:5.1f} s"
        if log:
            log.write(
                "EpochEnded",
                epoch=epoch,
                train_loss=float(means[0]),
                train_data_loss=float(means[1]),
                train_penalty=float(means[2]),
                train_accuracy=float(sums[3] / n),
                val_loss=val_loss,
                val_accuracy=val_accuracy,
                learning_rate=rate,
                seconds=seconds,
            )
        state = cpu_state(module) if lead else None
        save("last.safetensors", state)
        if val is None:
            say(line)
        else:
            value = val_loss if MONITOR == "val_loss" else val_accuracy
            improved, stop = early.update(epoch, value)  # the same on every process; the lead's word counts
            if improved and lead:
                best_state = state
                save("best.safetensors", state)
            if world > 1:
                verdict = torch.tensor([int(stop)], device=device)
                dist.broadcast(verdict, 0)
                stop = bool(verdict.item())
            if EARLY_STOPPING:
                line += "  * best" if improved else f"  ({early.since_best}/{EARLY_STOPPING} without improvement)"
                if log:
                    log.write(
                        "EarlyStopChecked",
                        epoch=epoch,
                        monitor=MONITOR,
                        value=value,
                        improved=improved,
                        best_epoch=early.best_epoch,
                        best_value=early.best_value,
                        epochs_without_improvement=early.since_best,
                        patience=EARLY_STOPPING,
                        stop=stop,
                    )
            say(line)
            if EARLY_STOPPING and stop:
                reason = "early_stopped"
                best = (
                    f"best: epoch {early.best_epoch}, {MONITOR} {early.best_value:.4g}"
                    if early.best_epoch is not None
                    else f"no epoch had a finite {MONITOR}"
                )
                message = (
                    f"stopped at epoch {epoch} after {early.since_best} epochs without a new best {MONITOR}; {best}"
                )
                break
    if message is None:
        message = f"completed {epochs_run} epoch{'' if epochs_run == 1 else 's'}"
    restored = "last_good" if reason == "diverged" else "last"
    if EARLY_STOPPING and RESTORE_BEST and early.best_epoch is not None and reason != "diverged":
        restored = "best"
        message += f"; the weights of epoch {early.best_epoch} are restored"
        if best_state is not None:
            module.load_state_dict(best_state)
    best_epoch, best_value = (early.best_epoch, early.best_value) if EARLY_STOPPING else (None, None)
    say(f"{'Diverged: ' if reason == 'diverged' else ''}{message[0].upper()}{message[1:]}.")
    if out is not None:
        say(
            f"checkpoints: {out / 'last.safetensors'}"
            + (f", {out / 'best.safetensors'}" if best_state is not None else "")
        )
    if log:
        log.write(
            "TrainingFinished",
            reason=reason,
            message=message,
            epochs_run=epochs_run,
            best_epoch=best_epoch,
            best_value=best_value,
            restored=restored,
        )
        log.close()
    if world > 1:
        dist.barrier()  # every process done with the group before any takes it down (gloo aborts otherwise)
        dist.destroy_process_group()
    return 1 if reason == "diverged" else 0


if __name__ == "__main__":
    sys.exit(main())
'''
