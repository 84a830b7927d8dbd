"""Array kernels shared by the layer runtimes.

Image tensors inside the engine are laid out **C×N×H×W** (channels first, then the
batch): a convolution computed as ``W (F×K) @ columns (K×N·Ho·Wo)`` then yields the
next layer's input directly, a 1×1 convolution needs no column matrix at all, and
per-channel statistics run over contiguous rows. Feature vectors are N×F.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from numpy.lib.stride_tricks import as_strided

from core.params import Padding4


def window_view(
    padded: np.ndarray,
    kernel: tuple[int, int],
    stride: tuple[int, int],
    dilation: tuple[int, int],
    out_hw: tuple[int, int],
) -> np.ndarray:
    """Return a no-copy view of every window tap of a padded C×N×H×W tensor.

    Parameters
    ----------
    padded
        ``(C, N, Hp, Wp)`` input, already padded.

    Returns
    -------
    np.ndarray
        ``(C, kh, kw, N, Ho, Wo)``: element ``[c, i, j, n, y, x]`` is
        ``padded[c, n, y·sh + i·dh, x·sw + j·dw]``.
    """
    s_c, s_n, s_h, s_w = padded.strides
    channels, batch = padded.shape[:2]
    shape = (channels, kernel[0], kernel[1], batch, out_hw[0], out_hw[1])
    strides = (s_c, s_h * dilation[0], s_w * dilation[1], s_n, s_h * stride[0], s_w * stride[1])
    return as_strided(padded, shape=shape, strides=strides, writeable=False)


def tap(
    padded: np.ndarray, i: int, j: int, stride: tuple[int, int], dilation: tuple[int, int], out_hw: tuple[int, int]
) -> np.ndarray:
    """Return the strided slice of ``padded`` (C×N×Hp×Wp) read by kernel tap ``(i, j)``: ``(C, N, Ho, Wo)``."""
    top, left = i * dilation[0], j * dilation[1]
    return padded[
        :,
        :,
        top : top + stride[0] * (out_hw[0] - 1) + 1 : stride[0],
        left : left + stride[1] * (out_hw[1] - 1) + 1 : stride[1],
    ]


class PaddedBuffer:
    """A reusable zero-bordered copy of a C×N×H×W input.

    The border is zeroed once at allocation; each call only copies the interior,
    which saves a full memset per step.
    """

    def __init__(self, pads: Padding4, fill: float = 0.0) -> None:
        self.pads = pads
        self.fill = fill
        self._buffer: np.ndarray | None = None

    def __call__(self, x: np.ndarray) -> np.ndarray:
        top, left, bottom, right = self.pads
        if not any(self.pads):
            return x
        channels, batch, height, width = x.shape
        shape = (channels, batch, height + top + bottom, width + left + right)
        if self._buffer is None or self._buffer.shape != shape or self._buffer.dtype != x.dtype:
            self._buffer = np.full(shape, self.fill, dtype=x.dtype)
        self._buffer[:, :, top : top + height, left : left + width] = x
        return self._buffer

    def crop(self, padded: np.ndarray) -> np.ndarray:
        """Return the interior of a padded-shaped array (a view)."""
        top, left, bottom, right = self.pads
        return padded[:, :, top : padded.shape[2] - bottom, left : padded.shape[3] - right]


def channel_window_sum(a: np.ndarray, before: int, after: int) -> np.ndarray:
    """Sum ``a`` over the channel window ``[c − before, c + after]`` for every channel ``c``.

    ``a`` is channels-first (axis 0); channels outside the range count as zero.
    """
    cumulative = np.cumsum(a, axis=0, dtype=a.dtype)
    zeros = np.zeros((1, *a.shape[1:]), dtype=a.dtype)
    cumulative = np.concatenate([zeros, cumulative], axis=0)
    channels = a.shape[0]
    upper = np.minimum(np.arange(channels) + after + 1, channels)
    lower = np.maximum(np.arange(channels) - before, 0)
    return cumulative[upper] - cumulative[lower]


def to_channel_major(x: np.ndarray) -> np.ndarray:
    """N×C×H×W → C×N×H×W (contiguous copy); N×F passes unchanged."""
    return np.ascontiguousarray(x.transpose(1, 0, 2, 3)) if x.ndim == 4 else x


def to_batch_major(x: np.ndarray) -> np.ndarray:
    """C×N×H×W → N×C×H×W (contiguous copy); N×F passes unchanged."""
    return np.ascontiguousarray(x.transpose(1, 0, 2, 3)) if x.ndim == 4 else x


_POOL: ThreadPoolExecutor | None = None
PARALLEL_MIN_BYTES = 1 << 20


def _pool() -> ThreadPoolExecutor:
    global _POOL
    if _POOL is None:
        _POOL = ThreadPoolExecutor(max_workers=1, thread_name_prefix="layerwise-copy")
    return _POOL


def split_rows(task: Callable[[int, int], None], rows: int, nbytes: int) -> None:
    """Run ``task(start, stop)`` over ``[0, rows)`` in two halves on two threads.

    Memory-bound NumPy work (copies, elementwise ops, per-channel statistics) releases
    the GIL, so both cores stream memory while OpenBLAS's threads are idle between
    GEMMs. Small arrays (``nbytes`` below :data:`PARALLEL_MIN_BYTES`) run in one call:
    handing them to a thread would cost more than it saves.
    """
    if nbytes < PARALLEL_MIN_BYTES or rows < 2:
        task(0, rows)
        return
    half = rows // 2
    other = _pool().submit(task, half, rows)
    try:
        task(0, half)
    finally:
        other.result()


def parallel_copy(destination: np.ndarray, source: np.ndarray) -> None:
    """``np.copyto(destination, source)`` split over two threads (im2col's gather).

    Splits the first axis longer than one (a single-channel input splits by kernel row).
    """
    axis = next((i for i, size in enumerate(destination.shape) if size > 1), 0)
    leading = (slice(None),) * axis

    def copy(start: int, stop: int) -> None:
        part = (*leading, slice(start, stop))
        np.copyto(destination[part], source[part])

    split_rows(copy, destination.shape[axis], destination.nbytes)


THIN_ROWS = 16
CHUNK_COLUMNS = 4096


def matmul_thin(weight: np.ndarray, columns: np.ndarray, out: np.ndarray) -> None:
    """``out = weight @ columns`` for ``(F, K) @ (K, M)`` with few rows ``F`` and many columns ``M``.

    OpenBLAS handles such thin products poorly in one call; slices of a few thousand
    columns keep both operands in cache (measured 1.5× faster for LeNet's 6×25×50176).
    """
    if weight.shape[0] > THIN_ROWS or columns.shape[1] < 2 * CHUNK_COLUMNS:
        np.matmul(weight, columns, out=out)
        return
    for start in range(0, columns.shape[1], CHUNK_COLUMNS):
        stop = start + CHUNK_COLUMNS
        np.matmul(weight, columns[:, start:stop], out=out[:, start:stop])


def matmul_thin_transposed(columns: np.ndarray, grad: np.ndarray) -> np.ndarray:
    """``columns @ grad.T`` — ``(K, M) @ (M, F)`` — summed over column slices when ``F`` is small."""
    if grad.shape[0] > THIN_ROWS or columns.shape[1] < 2 * CHUNK_COLUMNS:
        return columns @ grad.T
    total = np.zeros((columns.shape[0], grad.shape[0]), dtype=columns.dtype)
    for start in range(0, columns.shape[1], CHUNK_COLUMNS):
        stop = start + CHUNK_COLUMNS
        total += columns[:, start:stop] @ grad[:, start:stop].T
    return total
