"""Datasets that ship with Layerwise: generated or bundled, never downloaded.

``digits`` holds 1,797 real 8×8 handwritten digits from scikit-learn; ``shapes``
draws circles, squares, triangles and crosses; ``circles``, ``moons``, ``spirals``
and ``xor`` are two-feature point clouds for small dense networks. Every set is
the same, bit for bit, for the same arguments and seed.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable

import numpy as np

from core.data.dataset import Dataset, DatasetError, balanced_counts, check_total_size, stratified_take
from core.shapes import Shape, describe_shape

MAX_BYTES = 2**31
"""Largest float32 sample array a built-in set will build (``n_samples`` × sample size × 4)."""

SHAPE_CLASSES = ["circle", "square", "triangle", "cross"]
MIN_SHAPES_SIDE = 12
_SHAPES_DEFAULT = {"input_shape": (1, 28, 28), "n_samples": 4000, "noise": 0.1}
_CHUNK_PIXELS = 2_000_000
"""Shapes are drawn this many pixels at a time so the temporary grids stay small."""


def _spirals(counts: list[int], noise: float, rng: np.random.Generator) -> np.ndarray:
    arms = []
    for arm, count in enumerate(counts):
        t = rng.uniform(0.0, 1.0, count)
        angle = 2 * np.pi * arm / len(counts) + 4.0 * t
        arms.append(np.stack([t * np.cos(angle), t * np.sin(angle)], axis=1))
    points = np.concatenate(arms)
    return points + rng.normal(0.0, noise, points.shape)


def _moons(counts: list[int], noise: float, rng: np.random.Generator) -> np.ndarray:
    upper = rng.uniform(0.0, np.pi, counts[0])
    lower = rng.uniform(0.0, np.pi, counts[1])
    points = np.concatenate(
        [
            np.stack([np.cos(upper), np.sin(upper)], axis=1),
            np.stack([1.0 - np.cos(lower), 0.5 - np.sin(lower)], axis=1),
        ]
    )
    # Centre the pair of moons on the origin.
    points -= (0.5, 0.25)
    return points + rng.normal(0.0, noise, points.shape)


def _xor(counts: list[int], noise: float, rng: np.random.Generator) -> np.ndarray:
    # Class 0 sits in the quadrants where x·y > 0, class 1 where x·y < 0; two blobs each.
    centres = [np.array([(1.0, 1.0), (-1.0, -1.0)]), np.array([(1.0, -1.0), (-1.0, 1.0)])]
    blobs = [pair[rng.integers(0, 2, count)] for pair, count in zip(centres, counts)]
    points = np.concatenate(blobs)
    return points + rng.normal(0.0, noise, points.shape)


def _circles(counts: list[int], noise: float, rng: np.random.Generator) -> np.ndarray:
    rings = []
    for radius, count in zip((1.0, 0.5), counts):
        angle = rng.uniform(0.0, 2 * np.pi, count)
        rings.append(radius * np.stack([np.cos(angle), np.sin(angle)], axis=1))
    points = np.concatenate(rings)
    return points + rng.normal(0.0, noise, points.shape)


_TOY_SETS: dict[str, tuple[Callable[[list[int], float, np.random.Generator], np.ndarray], list[str], float]] = {
    "circles": (_circles, ["outer", "inner"], 0.08),
    "moons": (_moons, ["upper", "lower"], 0.1),
    "spirals": (_spirals, ["arm 0", "arm 1", "arm 2"], 0.05),
    "xor": (_xor, ["same sign", "opposite sign"], 0.3),
}


def builtin_names() -> list[str]:
    """Names accepted by :func:`load_builtin`, sorted."""
    return sorted(["digits", "shapes", *_TOY_SETS])


def load_builtin(
    name: str,
    *,
    input_shape: tuple[int, ...] | None = None,
    n_samples: int | None = None,
    noise: float | None = None,
    seed: int = 0,
) -> Dataset:
    """Build the built-in dataset ``name``.

    Parameters
    ----------
    name
        One of :func:`builtin_names`.
    input_shape
        Sample shape to produce. ``digits``: ``(C, H, W)`` with C 1 or 3 (default
        ``(1, 8, 8)``); ``shapes``: ``(C, H, W)`` with C 1 or 3 and H, W ≥ 12
        (default ``(1, 28, 28)``); point clouds: ``(2,)`` only.
    n_samples
        Number of samples. ``digits``: a stratified subset of the 1,797 images
        (default all); ``shapes``: default 4,000; point clouds: default 1,000.
        Classes are balanced, except ``digits`` which keeps its class shares.
    noise
        Standard deviation of Gaussian noise: on pixels for ``shapes`` (default
        0.1) and ``digits`` (default 0), on coordinates for point clouds.
    seed
        Seeds ``np.random.default_rng``; the same seed gives the same arrays.

    Returns
    -------
    Dataset
        ``x`` is ``(N, C, H, W)`` in ``[0, 1]`` for images, ``(N, 2)`` for point clouds.

    Raises
    ------
    DatasetError
        For an unknown name, a shape the set cannot produce, or a bad argument.
    """
    if name not in builtin_names():
        raise DatasetError(f"there is no built-in dataset {name!r}; built-in datasets are {', '.join(builtin_names())}")
    shape = _checked_shape(name, input_shape)
    _check_noise(name, noise)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise DatasetError(f"built-in dataset {name!r}: seed must be a whole number ≥ 0, got {seed!r}")
    rng = np.random.default_rng(seed)
    if name == "digits":
        return _digits(shape, n_samples, noise, rng)
    if name == "shapes":
        return _shapes(shape, n_samples, noise, rng)
    return _toy(name, shape, n_samples, noise, rng)


def _checked_shape(name: str, input_shape: object) -> Shape | None:
    if input_shape is None:
        return None
    if (
        not isinstance(input_shape, (tuple, list))
        or not input_shape
        or not all(isinstance(d, (int, np.integer)) and not isinstance(d, bool) and d > 0 for d in input_shape)
    ):
        raise DatasetError(
            f"built-in dataset {name!r}: input_shape must be a tuple of positive whole numbers, got {input_shape!r}"
        )
    return tuple(int(d) for d in input_shape)


def _check_noise(name: str, noise: object) -> None:
    if noise is None:
        return
    if isinstance(noise, bool) or not isinstance(noise, numbers.Real) or not math.isfinite(noise) or noise < 0:
        raise DatasetError(f"built-in dataset {name!r}: noise must be a finite number ≥ 0, got {noise!r}")


def _sample_count(name: str, n_samples: object, default: int, classes: int) -> int:
    if n_samples is None:
        return default
    if isinstance(n_samples, bool) or not isinstance(n_samples, (int, np.integer)) or n_samples < classes:
        raise DatasetError(
            f"built-in dataset {name!r}: n_samples must be a whole number ≥ {classes} "
            f"(one sample per class), got {n_samples!r}"
        )
    return int(n_samples)


def _cannot_produce(name: str, shape: Shape, can: str) -> DatasetError:
    return DatasetError(f"built-in dataset {name!r} cannot produce {describe_shape(shape)}; {can}")


def _toy(
    name: str, shape: Shape | None, n_samples: int | None, noise: float | None, rng: np.random.Generator
) -> Dataset:
    generate, class_names, default_noise = _TOY_SETS[name]
    if shape is not None and shape != (2,):
        raise _cannot_produce(name, shape, "it produces 2 features per sample, input shape (2,)")
    count = _sample_count(name, n_samples, 1000, len(class_names))
    check_total_size(f"built-in dataset {name!r}", count, (2,), MAX_BYTES)
    counts = balanced_counts(count, len(class_names))
    points = generate(counts, default_noise if noise is None else noise, rng)
    labels = np.repeat(np.arange(len(class_names), dtype=np.int64), counts)
    order = rng.permutation(count)
    return Dataset(name, np.ascontiguousarray(points[order], dtype=np.float32), labels[order], list(class_names))


def _digits(shape: Shape | None, n_samples: int | None, noise: float | None, rng: np.random.Generator) -> Dataset:
    # Imported here: scikit-learn takes about a second to import and only this set needs it.
    from sklearn.datasets import load_digits

    if shape is not None and (len(shape) != 3 or shape[0] not in (1, 3)):
        raise _cannot_produce(
            "digits", shape, "it produces (C, H, W) images with C = 1 or 3 channels and any H, W (default 1×8×8)"
        )
    channels, height, width = shape or (1, 8, 8)
    bunch = load_digits()
    images = (bunch.images / 16.0).astype(np.float32)[:, None, :, :]
    labels = bunch.target.astype(np.int64)
    if n_samples is not None:
        count = _sample_count("digits", n_samples, len(labels), 10)
        if count > len(labels):
            raise DatasetError(f"built-in dataset 'digits' has {len(labels)} samples; n_samples {count} is too many")
        keep = stratified_take(labels, count, rng)
        images, labels = images[keep], labels[keep]
    check_total_size("built-in dataset 'digits'", len(labels), (channels, height, width), MAX_BYTES)
    if (height, width) != (8, 8):
        images = resize_bilinear(images, height, width)
    if noise:
        images = np.clip(images + rng.normal(0.0, noise, images.shape).astype(np.float32), 0.0, 1.0)
    if channels == 3:
        images = np.repeat(images, 3, axis=1)
    return Dataset("digits", np.ascontiguousarray(images, dtype=np.float32), labels, [str(d) for d in range(10)])


def _interpolation_matrix(out_size: int, in_size: int) -> np.ndarray:
    """``(out_size, in_size)`` weights of bilinear sampling at pixel centres, edges clamped."""
    source = (np.arange(out_size) + 0.5) * (in_size / out_size) - 0.5
    source = np.clip(source, 0.0, in_size - 1)
    low = np.floor(source).astype(np.int64)
    high = np.minimum(low + 1, in_size - 1)
    weight = source - low
    matrix = np.zeros((out_size, in_size), dtype=np.float32)
    rows = np.arange(out_size)
    np.add.at(matrix, (rows, low), 1.0 - weight)
    np.add.at(matrix, (rows, high), weight)
    return matrix


def resize_bilinear(images: np.ndarray, height: int, width: int) -> np.ndarray:
    """Resize images with bilinear interpolation (pixel centres aligned, as Pillow does).

    Parameters
    ----------
    images
        ``(N, C, H, W)`` float array.
    height, width
        Output size.

    Returns
    -------
    np.ndarray
        ``(N, C, height, width)`` float32.
    """
    rows = _interpolation_matrix(height, images.shape[2])
    cols = _interpolation_matrix(width, images.shape[3])
    # (h, H) @ (N, C, H, W) @ (W, w): interpolate along rows, then along columns.
    return np.ascontiguousarray(rows @ images.astype(np.float32) @ cols.T)


def _shapes(shape: Shape | None, n_samples: int | None, noise: float | None, rng: np.random.Generator) -> Dataset:
    shape = shape or _SHAPES_DEFAULT["input_shape"]
    if len(shape) != 3 or shape[0] not in (1, 3) or min(shape[1:]) < MIN_SHAPES_SIDE:
        raise _cannot_produce(
            "shapes",
            shape,
            f"it produces (C, H, W) images with C = 1 or 3 channels and H, W ≥ {MIN_SHAPES_SIDE} (default 1×28×28)",
        )
    count = _sample_count("shapes", n_samples, _SHAPES_DEFAULT["n_samples"], len(SHAPE_CLASSES))
    check_total_size("built-in dataset 'shapes'", count, shape, MAX_BYTES)
    noise = _SHAPES_DEFAULT["noise"] if noise is None else noise
    channels, height, width = shape
    labels = rng.permutation(np.repeat(np.arange(len(SHAPE_CLASSES), dtype=np.int64), balanced_counts(count, 4)))
    layout = _shape_layout(count, height, width, rng)
    background = rng.uniform(0.0, 0.3, (count, 3)).astype(np.float32)
    foreground = np.clip(background + rng.uniform(0.4, 0.7, (count, 3)), 0.0, 1.0).astype(np.float32)
    if channels == 1:
        background, foreground = np.zeros((count, 1), np.float32), np.ones((count, 1), np.float32)
    images = np.empty((count, channels, height, width), dtype=np.float32)
    step = max(1, _CHUNK_PIXELS // (height * width))
    for start in range(0, count, step):
        part = slice(start, start + step)
        coverage = _draw_shapes(labels[part], *(values[part] for values in layout), height, width)[:, None]
        low, high = background[part, :, None, None], foreground[part, :, None, None]
        pixels = low + coverage * (high - low) + rng.normal(0.0, noise, (len(coverage), channels, height, width))
        images[part] = np.clip(pixels, 0.0, 1.0)
    return Dataset("shapes", images, labels, list(SHAPE_CLASSES))


def _shape_layout(
    count: int, height: int, width: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Random centre x, centre y, circumscribed radius and rotation of ``count`` shapes, each ``(count,)``."""
    side = min(height, width)
    # Diameters of 40–70 % of the side, but never under 8 px, so the classes stay recognisable.
    smallest = max(0.4 * side, 8.0)
    radius = rng.uniform(smallest, max(0.7 * side, smallest), count) / 2
    margin = radius + 1.0
    centre_x = margin + rng.uniform(0.0, 1.0, count) * (width - 2 * margin)
    centre_y = margin + rng.uniform(0.0, 1.0, count) * (height - 2 * margin)
    angle = rng.uniform(0.0, 2 * np.pi, count)
    return centre_x, centre_y, radius, angle


def _draw_shapes(
    labels: np.ndarray,
    centre_x: np.ndarray,
    centre_y: np.ndarray,
    radius: np.ndarray,
    angle: np.ndarray,
    height: int,
    width: int,
) -> np.ndarray:
    """Anti-aliased coverage ``(n, height, width)`` in ``[0, 1]`` of each sample's shape.

    Every shape is described by its signed distance in pixels (negative inside);
    coverage ramps from 1 to 0 across the one pixel around the edge.
    """
    ys = np.arange(height, dtype=np.float32)[None, :, None] + 0.5
    xs = np.arange(width, dtype=np.float32)[None, None, :] + 0.5
    dx, dy = xs - centre_x[:, None, None], ys - centre_y[:, None, None]
    cos, sin = np.cos(angle)[:, None, None], np.sin(angle)[:, None, None]
    u, v = cos * dx + sin * dy, cos * dy - sin * dx
    r = radius[:, None, None]
    distance = np.empty((len(labels), height, width), dtype=np.float32)
    for label, signed_distance in enumerate((_circle, _square, _triangle, _cross)):
        chosen = labels == label
        distance[chosen] = signed_distance(u[chosen], v[chosen], r[chosen])
    return np.clip(0.5 - distance, 0.0, 1.0)


def _circle(u: np.ndarray, v: np.ndarray, r: np.ndarray) -> np.ndarray:
    return np.hypot(u, v) - r


def _square(u: np.ndarray, v: np.ndarray, r: np.ndarray) -> np.ndarray:
    return np.maximum(np.abs(u), np.abs(v)) - r / math.sqrt(2)


def _triangle(u: np.ndarray, v: np.ndarray, r: np.ndarray) -> np.ndarray:
    # Equilateral: the inradius is half the circumradius; edge normals 120° apart.
    edges = [u * math.cos(a) + v * math.sin(a) for a in (np.pi / 2, np.pi * 7 / 6, np.pi * 11 / 6)]
    return np.maximum.reduce(edges) - r / 2


def _cross(u: np.ndarray, v: np.ndarray, r: np.ndarray) -> np.ndarray:
    # Two bars of half-width 0.28 r whose ends touch the circumscribed circle.
    half_width = 0.28 * r
    half_length = math.sqrt(1 - 0.28**2) * r
    across = np.maximum(np.abs(u) - half_length, np.abs(v) - half_width)
    down = np.maximum(np.abs(u) - half_width, np.abs(v) - half_length)
    return np.minimum(across, down)
