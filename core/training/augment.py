"""Data augmentation: more (and more varied) training data from the data at hand.

Three ways to make more data: copy it with random noise (``"noise"``), resample it
with replacement (``"resample"``), or estimate its distribution and sample from that
(``"sample"``: one Gaussian per class, diagonal covariance). Three image transforms
add to these: mirror (``"flip"``), translate (``"shift"``) and rotate (``"rotate"``).

Every transform is vectorised over the batch and draws only from the generator it is
given, so the same generator state always gives the same batch, bit for bit. The
settings of an :class:`Augmenter` may be replaced between batches while training runs.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import numpy as np

from core.errors import LayerwiseError, ParamError, ShapeError

AUGMENTATION_KINDS = ("noise", "shift", "flip", "rotate", "resample", "sample")
"""Names of the augmentations, in the order shown to a user."""

IMAGE_KINDS = frozenset({"shift", "flip", "rotate"})
"""Kinds that need an image layout (N, C, H, W); they are skipped for feature batches."""


def _check_real(field: str, value: object, maximum: float = math.inf) -> None:
    # bool is a subclass of int in Python, but never a valid amount.
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 <= value <= maximum:
        bound = "a finite number ≥ 0" if maximum == math.inf else f"a number in [0, {maximum:g}]"
        raise ParamError(field, f"must be {bound}, got {value!r}")
    if not math.isfinite(value):
        raise ParamError(field, f"must be a finite number, got {value!r}")


def _check_kinds(kinds: frozenset[str]) -> None:
    unknown = sorted(kinds - set(AUGMENTATION_KINDS))
    if unknown:
        raise ParamError(
            "kinds", f"has unknown kind(s) {', '.join(map(repr, unknown))}; valid: {', '.join(AUGMENTATION_KINDS)}"
        )


@dataclass(frozen=True)
class AugmentSettings:
    """Which augmentations are on, and how strong they are.

    Frozen so that a running trainer never sees a half-edited object: to change a
    setting, build a new one (e.g. with :func:`dataclasses.replace`) and assign it to
    :attr:`Augmenter.settings`.

    Attributes
    ----------
    kinds
        Names from :data:`AUGMENTATION_KINDS` that are on.
    noise_std
        Standard deviation of the added Gaussian noise, in units of the data (images are in [0, 1]).
    max_shift
        Largest translation in pixels along each axis; vacated pixels are zero.
    max_rotation
        Largest rotation in degrees; each image gets a uniform angle in [-max_rotation, max_rotation].
    synthetic_fraction
        For ``"sample"``: fraction of each batch replaced by draws from the class Gaussians.

    Raises
    ------
    ParamError
        If a kind is unknown or a number is out of range.
    """

    kinds: frozenset[str] = frozenset()
    noise_std: float = 0.05
    max_shift: int = 2
    max_rotation: float = 10.0
    synthetic_fraction: float = 0.25

    def __post_init__(self) -> None:
        if isinstance(self.kinds, str):
            raise ParamError("kinds", f"must be a set of names, got the text {self.kinds!r} (see parse_kinds)")
        object.__setattr__(self, "kinds", frozenset(self.kinds))
        _check_kinds(self.kinds)
        _check_real("noise_std", self.noise_std)
        if isinstance(self.max_shift, bool) or not isinstance(self.max_shift, numbers.Integral) or self.max_shift < 0:
            raise ParamError("max_shift", f"must be a whole number ≥ 0, got {self.max_shift!r}")
        _check_real("max_rotation", self.max_rotation)
        _check_real("synthetic_fraction", self.synthetic_fraction, maximum=1.0)


def parse_kinds(text: str) -> frozenset[str]:
    """Read a comma-separated list of augmentation names.

    Parameters
    ----------
    text
        E.g. ``"noise, shift"``; case and spaces are ignored, ``""`` means none.

    Returns
    -------
    frozenset of str

    Raises
    ------
    ParamError
        If a name is not in :data:`AUGMENTATION_KINDS`; the message lists the valid names.
    """
    kinds = frozenset(name.strip().lower() for name in text.split(",") if name.strip())
    _check_kinds(kinds)
    return kinds


def _padded(x: np.ndarray) -> np.ndarray:
    """Flatten ``x`` (N, C, H, W) after adding zero rows and columns: one before and two after.

    Source coordinates clipped to [-1, H] (rows) and [-1, W] (columns) then read zeros
    for everything outside the image, including the second corner of a bilinear pair,
    so no masks are needed.
    """
    return np.pad(x, ((0, 0), (0, 0), (1, 2), (1, 2))).ravel()


def _padded_index(shape: tuple[int, ...], rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Positions in :func:`_padded` of pixel (``rows``, ``cols``) of every sample and channel.

    Parameters
    ----------
    shape
        Shape (N, C, H, W) of the unpadded images.
    rows, cols
        Integer source coordinates broadcastable to (N, H, W), in [-1, H + 1] and [-1, W + 1].

    Returns
    -------
    np.ndarray
        Shape (N, C, H, W), intp.
    """
    n, c, h, w = shape
    padded_w = w + 3
    plane = (h + 3) * padded_w
    within_plane = ((rows + 1) * padded_w + (cols + 1))[:, None]
    channel_start = (np.arange(n * c, dtype=np.intp) * plane).reshape(n, c, 1, 1)
    return channel_start + within_plane


def flip_images(x: np.ndarray, mirror: np.ndarray) -> np.ndarray:
    """Mirror the chosen images left-right.

    Parameters
    ----------
    x
        Images, shape (N, C, H, W).
    mirror
        Booleans, shape (N,): which images to mirror.

    Returns
    -------
    np.ndarray
        A new array, shape (N, C, H, W).
    """
    return np.where(mirror[:, None, None, None], x[..., ::-1], x)


def shift_images(x: np.ndarray, down: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Translate each image by whole pixels, filling vacated pixels with zeros.

    Parameters
    ----------
    x
        Images, shape (N, C, H, W).
    down, right
        Integer offsets, shape (N,): image ``i`` moves ``down[i]`` rows down and
        ``right[i]`` columns right (negative values move up / left).

    Returns
    -------
    np.ndarray
        A new array, shape (N, C, H, W).
    """
    _, _, h, w = x.shape
    rows = np.clip(np.arange(h) - np.asarray(down)[:, None], -1, h)[:, :, None]
    cols = np.clip(np.arange(w) - np.asarray(right)[:, None], -1, w)[:, None, :]
    return _padded(x)[_padded_index(x.shape, rows, cols)]


def rotate_images(x: np.ndarray, degrees: np.ndarray) -> np.ndarray:
    """Rotate each image about its centre, counter-clockwise as displayed (row 0 at the top).

    Pixels are sampled bilinearly; whatever comes from outside the image is zero.

    Parameters
    ----------
    x
        Images, shape (N, C, H, W).
    degrees
        Angles, shape (N,).

    Returns
    -------
    np.ndarray
        A new array, shape (N, C, H, W), dtype of ``x``.
    """
    _, _, h, w = x.shape
    theta = np.deg2rad(np.asarray(degrees, dtype=np.float64))[:, None, None]
    cos, sin = np.cos(theta), np.sin(theta)
    centre_r, centre_c = (h - 1) / 2, (w - 1) / 2
    dr = np.arange(h, dtype=np.float64)[None, :, None] - centre_r
    dc = np.arange(w, dtype=np.float64)[None, None, :] - centre_c
    # Inverse mapping: each output pixel reads from the point that the rotation moves onto it.
    # Clipping only moves points that are outside anyway; they still read zeros.
    src_r = np.clip(centre_r + dr * cos + dc * sin, -1, h)
    src_c = np.clip(centre_c + dc * cos - dr * sin, -1, w)
    r0, c0 = np.floor(src_r), np.floor(src_c)
    fr = (src_r - r0).astype(x.dtype)[:, None]
    fc = (src_c - c0).astype(x.dtype)[:, None]
    flat = _padded(x)
    top_left = _padded_index(x.shape, r0.astype(np.intp), c0.astype(np.intp))
    below = top_left + (w + 3)  # one padded row down
    top = (1 - fc) * flat[top_left] + fc * flat[top_left + 1]
    bottom = (1 - fc) * flat[below] + fc * flat[below + 1]
    return (1 - fr) * top + fr * bottom


@dataclass(frozen=True)
class _ClassStats:
    """Per-class Gaussian fitted to training data; D is the number of features per sample."""

    classes: np.ndarray  # (K,) sorted labels
    mean: np.ndarray  # (K, D) float64
    std: np.ndarray  # (K, D) float64
    low: float
    high: float
    sample_shape: tuple[int, ...]


def _class_moments(flat: np.ndarray, y: np.ndarray, classes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and std of each feature within each class, each of shape (K, D), float64, from ``flat`` (N, D)."""
    means, stds = [], []
    for label in classes:
        # One class at a time, accumulating in float64, so no float64 copy of the whole data set is made.
        rows = flat[y == label]
        means.append(rows.mean(axis=0, dtype=np.float64))
        stds.append(rows.std(axis=0, dtype=np.float64))
    return np.stack(means), np.stack(stds)


def _check_batch(x: np.ndarray, y: np.ndarray) -> None:
    if not isinstance(x, np.ndarray) or x.ndim not in (2, 4):
        raise ShapeError(f"x must be an array of shape (N, C, H, W) or (N, F), got {getattr(x, 'shape', type(x))}")
    if not isinstance(y, np.ndarray) or y.shape != (len(x),) or not np.issubdtype(y.dtype, np.integer):
        got = f"{y.dtype} array of shape {y.shape}" if isinstance(y, np.ndarray) else type(y).__name__
        raise ShapeError(f"y must be integer labels of shape ({len(x)},), got {got}")


class Augmenter:
    """Applies the augmentations chosen in its settings to training batches.

    Parameters
    ----------
    settings
        Initial settings. :attr:`settings` may be replaced at any time between batches;
        the next call uses the new settings.
    """

    def __init__(self, settings: AugmentSettings) -> None:
        self.settings = settings
        self._stats: _ClassStats | None = None

    @property
    def fitted(self) -> bool:
        """Whether :meth:`fit` has been called, as ``"sample"`` needs."""
        return self._stats is not None

    def fit(self, x: np.ndarray, y: np.ndarray) -> None:
        """Estimate each class's mean and per-feature std, and the data's value range, for ``"sample"``.

        Parameters
        ----------
        x
            Training data, shape (N, C, H, W) or (N, F).
        y
            Integer class labels, shape (N,).

        Raises
        ------
        ShapeError
            If the shapes do not match or there are no samples.
        LayerwiseError
            If ``x`` holds NaN or infinite values.
        """
        _check_batch(x, y)
        if len(x) == 0:
            raise ShapeError("cannot fit augmentation statistics to an empty data set")
        flat = x.reshape(len(x), -1)
        low, high = float(flat.min()), float(flat.max())  # NaN propagates through min and max
        if not (math.isfinite(low) and math.isfinite(high)):
            raise LayerwiseError("training data contains NaN or infinite values; cannot fit class statistics")
        classes = np.unique(y)
        mean, std = _class_moments(flat, y, classes)
        self._stats = _ClassStats(
            classes=classes.astype(np.int64),
            mean=mean,
            std=std,
            low=low,
            high=high,
            sample_shape=x.shape[1:],
        )

    def epoch_order(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """Sample indices for one epoch.

        Parameters
        ----------
        n
            Number of training samples.
        rng
            Source of randomness.

        Returns
        -------
        np.ndarray
            Shape (n,), int64: a permutation of ``range(n)``, or with ``"resample"`` on a
            bootstrap sample (``n`` draws with replacement).
        """
        if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 0:
            raise ParamError("n", f"must be a whole number ≥ 0, got {n!r}")
        if "resample" in self.settings.kinds:
            return rng.integers(0, n, size=n, dtype=np.int64)
        return rng.permutation(n).astype(np.int64, copy=False)

    def apply(self, x: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Augment one batch.

        The kinds run in a fixed order: ``sample``, ``flip``, ``shift``, ``rotate``,
        ``noise`` — noise last so interpolation does not smooth it away.

        Parameters
        ----------
        x
            Batch, shape (N, C, H, W) or (N, F). Image kinds are skipped for (N, F).
        y
            Integer labels, shape (N,).
        rng
            Source of randomness.

        Returns
        -------
        x, y
            Augmented copies, same shapes, float32 and int64. The inputs are never
            modified; with no applicable kind on they are returned as they are.

        Raises
        ------
        ShapeError
            If the shapes are wrong, or differ from the fitted data's for ``"sample"``.
        LayerwiseError
            If ``"sample"`` is on but :meth:`fit` was not called, or a label was not in the fitted data.
        """
        settings = self.settings  # read once, so a replacement mid-call cannot mix two settings
        _check_batch(x, y)
        kinds = settings.kinds - {"resample"}
        if x.ndim != 4:
            kinds -= IMAGE_KINDS
        if not kinds:
            return x, y
        out = x.astype(np.float32)
        labels = y.astype(np.int64)
        n = len(out)
        if "sample" in kinds:
            self._replace_with_draws(out, labels, settings.synthetic_fraction, rng)
        if "flip" in kinds:
            out = flip_images(out, rng.random(n) < 0.5)
        if "shift" in kinds:
            offsets = rng.integers(-settings.max_shift, settings.max_shift + 1, size=(2, n))
            out = shift_images(out, offsets[0], offsets[1])
        if "rotate" in kinds:
            out = rotate_images(out, rng.uniform(-settings.max_rotation, settings.max_rotation, size=n))
        if "noise" in kinds:
            out += rng.standard_normal(out.shape, dtype=np.float32) * np.float32(settings.noise_std)
        return out, labels

    def _replace_with_draws(
        self, out: np.ndarray, labels: np.ndarray, fraction: float, rng: np.random.Generator
    ) -> None:
        """Overwrite ``round(fraction × N)`` random rows of ``out`` in place with draws from their class Gaussian."""
        stats = self._stats
        if stats is None:
            raise LayerwiseError("the 'sample' augmentation needs class statistics: call fit() on the training data")
        if out.shape[1:] != stats.sample_shape:
            raise ShapeError(f"batch samples have shape {out.shape[1:]}, but fit() saw {stats.sample_shape}")
        chosen = rng.choice(len(out), size=round(fraction * len(out)), replace=False)
        wanted = labels[chosen]
        class_index = np.minimum(np.searchsorted(stats.classes, wanted), len(stats.classes) - 1)
        unknown = stats.classes[class_index] != wanted
        if unknown.any():
            raise LayerwiseError(f"label {wanted[unknown][0]} does not occur in the data passed to fit()")
        noise = rng.standard_normal((len(chosen), stats.mean.shape[1]))
        draws = stats.mean[class_index] + stats.std[class_index] * noise
        out[chosen] = np.clip(draws, stats.low, stats.high).reshape((len(chosen), *stats.sample_shape))
