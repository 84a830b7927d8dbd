"""Resampling runtimes on C×N×H×W tensors: up-sampling by interpolation, pixel shuffle, and padding.

Up-sampling is separable: each axis maps its ``n`` input rows onto ``n_out ≥ n`` output
rows through a few *taps*, an input index and a weight per output row
(:class:`AxisTaps`). Forward gathers rows along H, then along W; backward sums each
output row's gradient back onto the rows it read, along W, then along H.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.ops.kernels import split_rows
from core.ops.op import Op
from core.params import Padding4


@dataclass(frozen=True)
class AxisTaps:
    """How one axis of ``size_in`` rows becomes ``size_out`` rows.

    Output row ``u`` is ``Σ_t weights[t][u] · x[indices[t][u]]``. Each index array is
    non-decreasing, which lets backward sum runs of equal indices with one
    ``np.add.reduceat`` instead of a scatter-add.
    """

    size_in: int
    indices: tuple[np.ndarray, ...]
    weights: tuple[np.ndarray, ...]

    @property
    def size_out(self) -> int:
        return len(self.indices[0])


def nearest_taps(size_in: int, size_out: int) -> AxisTaps:
    """Output row ``u`` copies input row ``⌊u · size_in / size_out⌋``.

    PyTorch's ``nearest`` and ONNX Resize with ``coordinate_transformation_mode=
    'asymmetric'`` and ``nearest_mode='floor'``, in exact integer arithmetic.
    """
    indices = np.arange(size_out) * size_in // size_out
    return AxisTaps(size_in, (indices,), (np.ones(size_out),))


def bilinear_taps(size_in: int, size_out: int) -> AxisTaps:
    """Half-pixel linear interpolation (PyTorch's ``align_corners=False``, ONNX's ``half_pixel``).

    Output row ``u`` sits at input coordinate ``x = max((u + ½) · size_in / size_out − ½, 0)``
    and reads rows ``i₀ = ⌊x⌋`` and ``i₁ = min(i₀ + 1, size_in − 1)`` with weights
    ``1 − λ`` and ``λ = x − i₀``; ``x`` is kept as the exact fraction
    ``num / (2 · size_out)``.
    """
    u = np.arange(size_out)
    numerator = np.maximum((2 * u + 1) * size_in - size_out, 0)
    denominator = 2 * size_out
    first = numerator // denominator
    fraction = (numerator - first * denominator) / denominator
    second = np.minimum(first + 1, size_in - 1)
    return AxisTaps(size_in, (first, second), (1.0 - fraction, fraction))


def _gather(x: np.ndarray, taps: AxisTaps, axis: int) -> np.ndarray:
    """Interpolate ``x`` along ``axis`` (2 or 3): the output rows of ``taps``."""
    shape = [1, 1, 1, 1]
    shape[axis] = taps.size_out
    out: np.ndarray | None = None
    for indices, weights in zip(taps.indices, taps.weights):
        term = np.take(x, indices, axis=axis)
        term *= weights.astype(x.dtype).reshape(shape)
        out = term if out is None else np.add(out, term, out=out)
    assert out is not None
    return out


def _scatter(grad: np.ndarray, taps: AxisTaps, axis: int) -> np.ndarray:
    """Adjoint of :func:`_gather`: each output row's gradient summed onto the input rows it read."""
    shape = [1, 1, 1, 1]
    shape[axis] = taps.size_out
    out_shape = list(grad.shape)
    out_shape[axis] = taps.size_in
    d_x = np.zeros(out_shape, dtype=grad.dtype)
    target: list[slice | np.ndarray] = [slice(None)] * 4
    for indices, weights in zip(taps.indices, taps.weights):
        weighted = grad * weights.astype(grad.dtype).reshape(shape)
        # Indices are sorted: one sum per run of equal ones, each added to its own row.
        starts = np.flatnonzero(np.r_[True, indices[1:] != indices[:-1]])
        target[axis] = indices[starts]
        d_x[tuple(target)] += np.add.reduceat(weighted, starts, axis=axis)
    return d_x


class UpsampleOp(Op):
    """Up-sampling of the H and W axes by interpolation (:class:`AxisTaps` per axis).

    Nearest-neighbour up-sampling by whole factors ``(fh, fw)`` is one broadcast copy,
    ``y[c, n, fh·i + a, fw·j + b] = x[c, n, i, j]``, and its backward a sum over each
    ``fh × fw`` block.
    """

    def __init__(self, rows: AxisTaps, columns: AxisTaps, repeats: tuple[int, int] | None) -> None:
        super().__init__()
        self.rows, self.columns, self.repeats = rows, columns, repeats

    def forward(self, inputs: list[np.ndarray], training: bool) -> np.ndarray:
        x = inputs[0]
        if self.repeats is None:
            return _gather(_gather(x, self.rows, 2), self.columns, 3)
        channels, batch, height, width = x.shape
        (fh, fw) = self.repeats
        out = np.empty((channels, batch, height, fh, width, fw), dtype=x.dtype)
        source = x[:, :, :, None, :, None]

        def copy(a: int, b: int) -> None:
            np.copyto(out[a:b], source[a:b])

        split_rows(copy, channels, out.nbytes)
        return out.reshape(channels, batch, height * fh, width * fw)

    def backward(self, grad_output: np.ndarray) -> list[np.ndarray | None]:
        if self.repeats is None:
            return [_scatter(_scatter(grad_output, self.columns, 3), self.rows, 2)]
        channels, batch = grad_output.shape[:2]
        (fh, fw) = self.repeats
        blocks = grad_output.reshape(channels, batch, self.rows.size_in, fh, self.columns.size_in, fw)
        return [blocks.sum(axis=(3, 5))]


class PixelShuffleOp(Op):
    """Depth to space by a factor ``r``: a ``(C·r²)×N×H×W`` tensor becomes ``C×N×(H·r)×(W·r)``.

    Input channel ``c·r² + i·r + j`` fills the pixels ``(h·r + i, w·r + j)`` of output channel
    ``c`` (PyTorch's ``pixel_shuffle``, ONNX ``DepthToSpace`` in ``CRD`` mode): a reshape to
    ``C×r×r×N×H×W``, a transpose to ``C×N×H×r×W×r`` and a reshape. Backward is the inverse
    permutation of the gradient (space to depth).
    """

    _FORWARD = (0, 3, 4, 1, 5, 2)
    """``C×r×r×N×H×W`` (channel, row offset i, column offset j, …) → ``C×N×H×r×W×r``."""
    _BACKWARD = (0, 3, 5, 1, 2, 4)
    """The inverse of :attr:`_FORWARD`."""

    def __init__(self, factor: int) -> None:
        super().__init__()
        self.factor = factor

    def forward(self, inputs: list[np.ndarray], training: bool) -> np.ndarray:
        x, r = inputs[0], self.factor
        channels, batch, height, width = x.shape
        blocks = x.reshape(channels // (r * r), r, r, batch, height, width).transpose(self._FORWARD)
        return np.ascontiguousarray(blocks).reshape(channels // (r * r), batch, height * r, width * r)

    def backward(self, grad_output: np.ndarray) -> list[np.ndarray | None]:
        r = self.factor
        channels, batch, height, width = grad_output.shape
        blocks = grad_output.reshape(channels, batch, height // r, r, width // r, r).transpose(self._BACKWARD)
        return [np.ascontiguousarray(blocks).reshape(channels * r * r, batch, height // r, width // r)]


def pad_sources(size: int, begin: int, end: int, mode: str) -> np.ndarray:
    """The input index each padded position copies, for ``begin + size + end`` positions.

    ``reflect`` mirrors about the edge row without repeating it (``… 2 1 | 0 1 2 …``);
    ``replicate`` repeats the edge row. ``constant`` padding copies nothing: −1 marks
    its positions.
    """
    position = np.arange(-begin, size + end)
    if mode == "reflect":
        period = 2 * (size - 1) if size > 1 else 1
        folded = np.abs(position) % period
        return np.where(folded < size, folded, period - folded)
    if mode == "replicate":
        return np.clip(position, 0, size - 1)
    return np.where((position >= 0) & (position < size), position, -1)


class PadOp(Op):
    """Padding of the H and W axes by ``(top, left, bottom, right)``: a constant, a reflection or the edge.

    Forward copies the input into the middle, then fills the border columns of the input
    rows and the border rows (corners included) from the rows and columns they copy.
    Backward adds each border gradient onto the position it copied, rows then columns.
    """

    def __init__(self, pads: Padding4, mode: str, value: float, input_hw: tuple[int, int]) -> None:
        super().__init__()
        self.pads, self.mode, self.value = pads, mode, value
        top, left, bottom, right = pads
        self.row_sources = pad_sources(input_hw[0], top, bottom, mode)
        self.column_sources = pad_sources(input_hw[1], left, right, mode)
        height, width = input_hw
        self.border_rows = [r for r in range(top + height + bottom) if not top <= r < top + height]
        self.border_columns = [c for c in range(left + width + right) if not left <= c < left + width]

    def forward(self, inputs: list[np.ndarray], training: bool) -> np.ndarray:
        x = inputs[0]
        channels, batch, height, width = x.shape
        top, left, bottom, right = self.pads
        out = np.empty((channels, batch, height + top + bottom, width + left + right), dtype=x.dtype)
        rows = slice(top, top + height)
        out[:, :, rows, left : left + width] = x
        for column in self.border_columns:
            source = self.column_sources[column]
            out[:, :, rows, column] = self.value if source < 0 else out[:, :, rows, left + source]
        for row in self.border_rows:
            source = self.row_sources[row]
            out[:, :, row] = self.value if source < 0 else out[:, :, top + source]
        return out

    def backward(self, grad_output: np.ndarray) -> list[np.ndarray | None]:
        top, left, bottom, right = self.pads
        height, width = grad_output.shape[2] - top - bottom, grad_output.shape[3] - left - right
        if self.mode == "constant":
            return [grad_output[:, :, top : top + height, left : left + width]]
        grad = grad_output.copy()
        for row in self.border_rows:
            grad[:, :, top + self.row_sources[row]] += grad[:, :, row]
        for column in self.border_columns:
            grad[:, :, :, left + self.column_sources[column]] += grad[:, :, :, column]
        return [grad[:, :, top : top + height, left : left + width]]
