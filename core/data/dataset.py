"""A labelled set of samples as the training code consumes it.

Images are ``(N, C, H, W)`` float32 arrays with values in ``[0, 1]``; feature
vectors are ``(N, F)`` float32 arrays. Labels are int64 class indices that run
from 0 to ``K - 1``, with one display name per class.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field

import numpy as np

from core.errors import LayerwiseError
from core.shapes import Shape, format_shape


class DatasetError(LayerwiseError):
    """A dataset cannot be loaded, built or split.

    The message names the file (or the built-in dataset) and what is wrong with it.
    """


@dataclass(eq=False)
class Dataset:
    """Samples, their labels and the names of the classes.

    Parameters
    ----------
    name
        Shown to the user, e.g. ``"mnist"`` or ``"shapes"``.
    x
        float32, C-contiguous: ``(N, C, H, W)`` images or ``(N, F)`` feature vectors.
    y
        int64, ``(N,)``: the class index of each sample, in ``0 .. K-1``.
    class_names
        ``K`` names; ``class_names[y[i]]`` names the class of sample ``i``.
    test
        A held-out test split shipped with the source, or ``None``. It has the same
        sample shape and classes.
    val
        A validation split shipped with the source (an image folder's ``val/``), or
        ``None``; training validates on it instead of splitting one off. It has the
        same sample shape and classes.

    Raises
    ------
    DatasetError
        When the arrays do not have the types, shapes or label range above.
    """

    name: str
    x: np.ndarray = field(repr=False)
    y: np.ndarray = field(repr=False)
    class_names: list[str]
    test: Dataset | None = field(default=None, repr=False)
    val: Dataset | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        where = f"dataset {self.name!r}"
        if not isinstance(self.x, np.ndarray) or self.x.dtype != np.float32 or self.x.ndim not in (2, 4):
            raise DatasetError(
                f"{where}: x must be a float32 array of shape (N, F) or (N, C, H, W), got {_describe(self.x)}"
            )
        if not isinstance(self.y, np.ndarray) or self.y.dtype != np.int64 or self.y.ndim != 1:
            raise DatasetError(f"{where}: y must be a one-dimensional int64 array, got {_describe(self.y)}")
        if len(self.x) != len(self.y):
            raise DatasetError(f"{where}: x holds {len(self.x)} samples but y holds {len(self.y)} labels")
        if len(self.x) == 0:
            raise DatasetError(f"{where}: holds no samples")
        if not isinstance(self.class_names, list) or not all(isinstance(n, str) for n in self.class_names):
            raise DatasetError(f"{where}: class_names must be a list of strings")
        low, high = int(self.y.min()), int(self.y.max())
        if low < 0 or high >= len(self.class_names):
            raise DatasetError(
                f"{where}: labels must lie in 0..{len(self.class_names) - 1} (one per class name), found {low}..{high}"
            )
        self.x = np.ascontiguousarray(self.x)
        self.y = np.ascontiguousarray(self.y)
        for kind, part in (("test", self.test), ("val", self.val)):
            if part is not None:
                self._check_part(where, kind, part)

    def _check_part(self, where: str, kind: str, part: object) -> None:
        """``part`` (the ``test`` or ``val`` split) must hold samples of this shape, of these classes."""
        if not isinstance(part, Dataset):
            raise DatasetError(f"{where}: {kind} must be a Dataset or None, got {type(part).__name__}")
        if part.sample_shape != self.sample_shape:
            raise DatasetError(
                f"{where}: {kind} samples are {format_shape(part.sample_shape)} "
                f"but training samples are {format_shape(self.sample_shape)}"
            )
        if part.class_names != self.class_names:
            raise DatasetError(f"{where}: the {kind} split has different class names from the training split")

    @property
    def sample_shape(self) -> Shape:
        """Shape of one sample without the batch axis: ``(C, H, W)`` or ``(F,)``."""
        return tuple(int(d) for d in self.x.shape[1:])

    @property
    def num_classes(self) -> int:
        """Number of classes ``K`` (some may have no samples in a subset)."""
        return len(self.class_names)

    def __len__(self) -> int:
        return len(self.y)

    def subset(self, indices: np.ndarray) -> Dataset:
        """Return a copy holding the samples at ``indices`` (an index or boolean array).

        The test and validation splits are not carried over: a subset is a part of this split.
        """
        indices = np.asarray(indices)
        return Dataset(self.name, self.x[indices].copy(), self.y[indices].copy(), list(self.class_names))

    def split(self, val_fraction: float, seed: int) -> tuple[Dataset, Dataset]:
        """Split into training and validation parts, class by class.

        About ``val_fraction`` of the samples go to validation, shared among the
        classes in proportion to their sizes; each class with ``n ≥ 2`` samples
        gives at least one and at most ``n - 1``, so it appears in both parts, and
        a class with a single sample stays in training. Samples keep their
        original order within each part.

        Parameters
        ----------
        val_fraction
            Share of the samples that goes to validation, strictly between 0 and 1.
        seed
            Same seed, same split.

        Returns
        -------
        (train, validation)
            Two new datasets; neither carries the test or validation split.

        Raises
        ------
        DatasetError
            When ``val_fraction`` is not in ``(0, 1)`` or a part would be empty.
        """
        if isinstance(val_fraction, bool) or not isinstance(val_fraction, numbers.Real) or not 0 < val_fraction < 1:
            raise DatasetError(
                f"dataset {self.name!r}: the validation fraction must lie strictly between 0 and 1, "
                f"got {val_fraction!r}"
            )
        labels, sizes = np.unique(self.y, return_counts=True)
        quotas = proportional_counts(sizes, round(len(self) * val_fraction))
        quotas = np.where(sizes >= 2, np.clip(quotas, 1, sizes - 1), 0)
        if not quotas.any():
            raise DatasetError(
                f"dataset {self.name!r}: cannot split off a validation part: no class has 2 or more samples"
            )
        rng = np.random.default_rng(seed)
        in_val = np.zeros(len(self), dtype=bool)
        for label, quota in zip(labels, quotas):
            in_val[rng.permutation(np.flatnonzero(self.y == label))[:quota]] = True
        return self.subset(~in_val), self.subset(in_val)


STRONG_IMBALANCE = 3.0
"""From this ratio of the largest to the smallest class on, the import dialog and ``layerwise
train`` point at balanced class weights: below it plain cross-entropy copes well enough."""


def class_counts(dataset: Dataset) -> list[int]:
    """Samples of each class: ``K`` counts, ``class_counts(d)[k]`` of class ``d.class_names[k]``.

    Parameters
    ----------
    dataset
        Labels ``(N,)`` in ``0 .. K-1``.

    Returns
    -------
    list[int]
        ``(K,)`` counts summing to ``N``; a class without samples counts 0.
    """
    return [int(c) for c in np.bincount(dataset.y, minlength=dataset.num_classes)]


def imbalance(dataset: Dataset) -> float:
    """The largest class count divided by the smallest nonzero one: 1.0 when balanced.

    Classes without samples are left out (they have no ratio); compare with
    :data:`STRONG_IMBALANCE`.
    """
    present = [count for count in class_counts(dataset) if count]
    return max(present) / min(present)


def _describe(array: object) -> str:
    if not isinstance(array, np.ndarray):
        return type(array).__name__
    return f"{array.dtype} array of shape {tuple(array.shape)}"


def balanced_counts(total: int, classes: int) -> list[int]:
    """Split ``total`` samples over ``classes`` as evenly as possible (earlier classes get the remainder)."""
    return [total // classes + (1 if k < total % classes else 0) for k in range(classes)]


def proportional_counts(sizes: np.ndarray, total: int) -> np.ndarray:
    """Share ``total`` among groups of ``sizes`` in proportion, rounding so the shares sum to ``total``.

    Parameters
    ----------
    sizes
        ``(G,)`` group sizes.
    total
        Number to share, at most ``sizes.sum()``.

    Returns
    -------
    np.ndarray
        ``(G,)`` int64 shares; the groups with the largest fractional parts round up
        (ties to the earlier group), so the result is the same every time.
    """
    exact = sizes * (total / sizes.sum())
    shares = np.floor(exact).astype(np.int64)
    leftover = total - int(shares.sum())
    shares[np.argsort(-(exact - shares), kind="stable")[:leftover]] += 1
    return shares


def stratified_take(y: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """Pick ``count`` indices of ``y`` keeping each class's share (largest remainders round up).

    Parameters
    ----------
    y
        ``(N,)`` labels.
    count
        How many indices to return, ``≤ N``.
    rng
        Chooses which samples of each class are taken.

    Returns
    -------
    np.ndarray
        ``(count,)`` sorted int64 indices into ``y``.
    """
    labels, sizes = np.unique(y, return_counts=True)
    quotas = proportional_counts(sizes, count)
    picked = [rng.permutation(np.flatnonzero(y == label))[:quota] for label, quota in zip(labels, quotas)]
    return np.sort(np.concatenate(picked))


def check_total_size(name: str, count: int, sample_shape: Shape, limit: int) -> None:
    """Refuse to build a float32 array of ``count`` samples of ``sample_shape`` above ``limit`` bytes."""
    size = count * math.prod(sample_shape) * 4
    if size > limit:
        raise DatasetError(
            f"{name}: {count} samples of {format_shape(sample_shape)} would take {size / 2**30:.1f} GiB; "
            f"the limit is {limit / 2**30:.0f} GiB"
        )
