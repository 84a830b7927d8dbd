"""Runtimes of the non-convolutional layers (tensors C×N×H×W or N×F)."""

from __future__ import annotations

import numpy as np

from core.ops.kernels import channel_window_sum, split_rows, to_channel_major
from core.ops.op import ElementwiseOp, Op, ParamInit


class InputOp(Op):
    """Turns a user batch (N×C×H×W or N×F) into the engine's layout; backward turns it back.

    With an input normalisation (the Input layer's preprocessing) each output channel ``c``
    of an image batch is ``x[:, order[c]] * scale[c] + shift[c]``, and backward gives the
    gradient with respect to the raw pixels.

    Parameters
    ----------
    order
        ``(C,)``: which input channel feeds each output channel (``[2, 1, 0]`` for BGR), or ``None``.
    scale, shift
        ``(C,)`` float32, or ``None`` for none at all.
    """

    def __init__(
        self, order: np.ndarray | None = None, scale: np.ndarray | None = None, shift: np.ndarray | None = None
    ) -> None:
        super().__init__()
        self.order, self.scale, self.shift = order, scale, shift

    def forward(self, inputs: list[np.ndarray], training: bool) -> np.ndarray:
        x = to_channel_major(inputs[0])
        if self.scale is None:
            return x
        x = x[self.order] if self.order is not None else x
        scale = self.scale.astype(x.dtype)[:, None, None, None]
        shift = self.shift.astype(x.dtype)[:, None, None, None]  # type: ignore[union-attr]
        return x * scale + shift

    def backward(self, grad_output: np.ndarray) -> list[np.ndarray | None]:
        if self.scale is not None:
            scaled = grad_output * self.scale.astype(grad_output.dtype)[:, None, None, None]
            if self.order is not None:
                grad_output = np.empty_like(scaled)
                grad_output[self.order] = scaled
            else:
                grad_output = scaled
        return [np.ascontiguousarray(grad_output.transpose(1, 0, 2, 3)) if grad_output.ndim == 4 else grad_output]


class DenseOp(Op):
    """``y = x Wᵀ + b`` with ``W`` of shape ``(units, features)`` (PyTorch's layout)."""

    def __init__(self, features: int, units: int, bias: bool) -> None:
        super().__init__()
        self.features, self.units, self.use_bias = features, units, bias

    def param_inits(self) -> dict[str, ParamInit]:
        inits = {
            "weight": ParamInit((self.units, self.features), "he_normal", self.features, self.units, regularized=True)
        }
        if self.use_bias:
            inits["bias"] = ParamInit((self.units,), "zeros")
        return inits

    def forward(self, inputs: list[np.ndarray], training: bool) -> np.ndarray:
        x = inputs[0]
        out = x @ self.params["weight"].T
        if self.use_bias:
            out += self.params["bias"]
        if training:
            self._x = x
        return out

    def backward(self, grad_output: np.ndarray) -> list[np.ndarray | None]:
        np.matmul(grad_output.T, self._x, out=self.grads["weight"])
        if self.use_bias:
            np.sum(grad_output, axis=0, out=self.grads["bias"])
        return [grad_output @ self.params["weight"] if self.input_grad else None]


class FlattenOp(Op):
    """C×N×H×W → N×(C·H·W) in N×C×H×W element order (as ONNX and PyTorch flatten)."""

    def forward(self, inputs: list[np.ndarray], training: bool) -> np.ndarray:
        x = inputs[0]
        self._input_shape = x.shape
        if x.ndim == 2:
            return x
        return np.ascontiguousarray(x.transpose(1, 0, 2, 3)).reshape(x.shape[1], -1)

    def backward(self, grad_output: np.ndarray) -> list[np.ndarray | None]:
        if len(self._input_shape) == 2:
            return [grad_output]
        channels, batch, height, width = self._input_shape
        return [np.ascontiguousarray(grad_output.reshape(batch, channels, height, width).transpose(1, 0, 2, 3))]


class BatchNormOp(Op):
    """Normalise per channel (axis 0 of C×N×H×W, or per feature of N×F), then scale and shift.

    Training normalises with the batch's biased variance and updates the running
    statistics with the unbiased one, ``running = momentum·running + (1 − momentum)·batch``.
    Channels are independent, so large tensors are processed in two halves on two threads.
    """

    def __init__(self, channels: int, epsilon: float, momentum: float) -> None:
        super().__init__()
        self.channels, self.epsilon, self.momentum = channels, epsilon, momentum

    def param_inits(self) -> dict[str, ParamInit]:
        return {"gamma": ParamInit((self.channels,), "ones"), "beta": ParamInit((self.channels,), "zeros")}

    def buffer_inits(self) -> dict[str, tuple[tuple[int, ...], float]]:
        return {"running_mean": ((self.channels,), 0.0), "running_var": ((self.channels,), 1.0)}

    def _rows(self, x: np.ndarray) -> np.ndarray:
        """``(channels, values)`` view: contiguous rows for C×N×H×W, a transpose for N×F."""
        return x.reshape(self.channels, -1) if x.ndim == 4 else x.T

    def _output(self, rows_out: np.ndarray, like: np.ndarray) -> np.ndarray:
        return rows_out.reshape(like.shape) if like.ndim == 4 else np.ascontiguousarray(rows_out.T)

    def forward(self, inputs: list[np.ndarray], training: bool) -> np.ndarray:
        x = inputs[0]
        rows = self._rows(x)
        out = np.empty(rows.shape, dtype=x.dtype)
        gamma, beta = self.params["gamma"], self.params["beta"]
        if not training:
            scale = gamma / np.sqrt(self.buffers["running_var"] + self.epsilon)
            shift = beta - self.buffers["running_mean"] * scale

            def infer(a: int, b: int) -> None:
                np.multiply(rows[a:b], scale[a:b, None], out=out[a:b])
                out[a:b] += shift[a:b, None]

            split_rows(infer, self.channels, x.nbytes)
            return self._output(out, x)
        count = rows.shape[1]
        normalised = np.empty(rows.shape, dtype=x.dtype)
        mean = np.empty(self.channels, dtype=x.dtype)
        var = np.empty(self.channels, dtype=x.dtype)

        def train(a: int, b: int) -> None:
            mean[a:b] = rows[a:b].mean(axis=1)
            centred = np.subtract(rows[a:b], mean[a:b, None], out=normalised[a:b])
            var[a:b] = np.einsum("ij,ij->i", centred, centred) / count
            centred *= (1.0 / np.sqrt(var[a:b] + self.epsilon))[:, None]
            np.multiply(centred, gamma[a:b, None], out=out[a:b])
            out[a:b] += beta[a:b, None]

        split_rows(train, self.channels, x.nbytes)
        m = self.momentum
        self.buffers["running_mean"][...] = m * self.buffers["running_mean"] + (1 - m) * mean
        self.buffers["running_var"][...] = m * self.buffers["running_var"] + (1 - m) * var * (count / max(count - 1, 1))
        self._normalised, self._inv_std = normalised, 1.0 / np.sqrt(var + self.epsilon)
        return self._output(out, x)

    def backward(self, grad_output: np.ndarray) -> list[np.ndarray | None]:
        d_rows = self._rows(grad_output)
        normalised, count = self._normalised, d_rows.shape[1]
        d_x = np.empty(d_rows.shape, dtype=grad_output.dtype)
        gamma = self.params["gamma"]

        def task(a: int, b: int) -> None:
            d, n = d_rows[a:b], normalised[a:b]
            d_beta = d.sum(axis=1)
            d_gamma = np.einsum("ij,ij->i", d, n)
            self.grads["beta"][a:b] = d_beta
            self.grads["gamma"][a:b] = d_gamma
            # dx = γ/σ · (d − mean(d) − x̂ · mean(d · x̂)), per channel
            scale = gamma[a:b] * self._inv_std[a:b]
            np.multiply(d, scale[:, None], out=d_x[a:b])
            d_x[a:b] -= (scale * d_beta / count)[:, None]
            d_x[a:b] -= n * (scale * d_gamma / count)[:, None]

        split_rows(task, self.channels, grad_output.nbytes)
        return [self._output(d_x, grad_output)]


class ScaleOp(Op):
    """``y = γ_c · x + β_c`` per channel (axis 0 of C×N×H×W, or per feature of N×F)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.channels = channels

    def param_inits(self) -> dict[str, ParamInit]:
        return {"gamma": ParamInit((self.channels,), "ones"), "beta": ParamInit((self.channels,), "zeros")}

    def _per_channel(self, vector: np.ndarray, ndim: int) -> np.ndarray:
        return vector[:, None, None, None] if ndim == 4 else vector

    def forward(self, inputs: list[np.ndarray], training: bool) -> np.ndarray:
        x = inputs[0]
        if training:
            self._x = x
        return x * self._per_channel(self.params["gamma"], x.ndim) + self._per_channel(self.params["beta"], x.ndim)

    def backward(self, grad_output: np.ndarray) -> list[np.ndarray | None]:
        axes = (1, 2, 3) if grad_output.ndim == 4 else (0,)
        self.grads["gamma"][...] = np.sum(grad_output * self._x, axis=axes)
        self.grads["beta"][...] = np.sum(grad_output, axis=axes)
        return [grad_output * self._per_channel(self.params["gamma"], grad_output.ndim)]


class ChannelShuffleOp(Op):
    """Permute channels (axis 0): output channel ``i·groups + g`` is input channel ``g·(C/groups) + i``."""

    def __init__(self, channels: int, groups: int) -> None:
        super().__init__()
        self.order = np.arange(channels).reshape(groups, channels // groups).T.ravel()
        self.inverse = np.argsort(self.order)

    def forward(self, inputs: list[np.ndarray], training: bool) -> np.ndarray:
        return inputs[0][self.order]

    def backward(self, grad_output: np.ndarray) -> list[np.ndarray | None]:
        return [grad_output[self.inverse]]


class ChannelSliceOp(Op):
    """Keep channels (or features) ``[start, stop)``: axis 0 of C×N×H×W maps, axis 1 of N×F vectors."""

    def __init__(self, channels: int, start: int, stop: int) -> None:
        super().__init__()
        self.channels, self.start, self.stop = channels, start, stop

    def forward(self, inputs: list[np.ndarray], training: bool) -> np.ndarray:
        x = inputs[0]
        return x[self.start : self.stop] if x.ndim == 4 else x[:, self.start : self.stop]

    def backward(self, grad_output: np.ndarray) -> list[np.ndarray | None]:
        # The channels left out receive no gradient.
        if grad_output.ndim == 4:
            d_x = np.zeros((self.channels, *grad_output.shape[1:]), grad_output.dtype)
            d_x[self.start : self.stop] = grad_output
        else:
            d_x = np.zeros((len(grad_output), self.channels), grad_output.dtype)
            d_x[:, self.start : self.stop] = grad_output
        return [d_x]


class ChannelSplitOp(Op):
    """Split channels (or features) into ``parts`` equal runs: one output per run.

    Axis 0 of C×N×H×W maps, axis 1 of N×F vectors. Forward returns a list of
    ``parts`` arrays, C/parts×N×H×W (or N×F/parts); backward takes one gradient per
    output (``None`` for an output nothing reads) and concatenates them.
    """

    def __init__(self, channels: int, parts: int) -> None:
        super().__init__()
        self.channels, self.parts = channels, parts
        self.width = channels // parts

    def forward(self, inputs: list[np.ndarray], training: bool) -> list[np.ndarray]:  # type: ignore[override]
        x = inputs[0]
        w = self.width
        if x.ndim == 4:
            return [x[i * w : (i + 1) * w] for i in range(self.parts)]
        return [x[:, i * w : (i + 1) * w] for i in range(self.parts)]

    def backward(self, grad_output: list[np.ndarray | None]) -> list[np.ndarray | None]:  # type: ignore[override]
        known = next(g for g in grad_output if g is not None)
        axis = 0 if known.ndim == 4 else 1
        pieces = [np.zeros_like(known) if g is None else g for g in grad_output]
        return [np.concatenate(pieces, axis=axis)]


class LRNOp(Op):
    """Local response normalisation across channels (axis 0), as ONNX LRN.

    ``y = x / (bias + alpha/size · Σ x²)^beta`` over channels ``[c − ⌊(size−1)/2⌋, c + ⌈(size−1)/2⌉]``.
    """

    def __init__(self, size: int, alpha: float, beta: float, bias: float) -> None:
        super().__init__()
        self.size, self.alpha, self.beta, self.bias = size, alpha, beta, bias
        self.before, self.after = (size - 1) // 2, size - 1 - (size - 1) // 2

    def forward(self, inputs: list[np.ndarray], training: bool) -> np.ndarray:
        x = inputs[0]
        scale = self.bias + (self.alpha / self.size) * channel_window_sum(x * x, self.before, self.after)
        out = x * scale ** (-self.beta)
        if training:
            self._x, self._scale, self._out = x, scale, out
        return out

    def backward(self, grad_output: np.ndarray) -> list[np.ndarray | None]:
        x, scale = self._x, self._scale
        # Each channel's denominator reads the window around it; the gradient flows back
        # through the mirrored window.
        through_scale = channel_window_sum(grad_output * self._out / scale, self.after, self.before)
        d_x = grad_output * scale ** (-self.beta) - (2 * self.alpha * self.beta / self.size) * x * through_scale
        return [d_x]


class ReLUOp(ElementwiseOp):
    def function(self, x: np.ndarray, out: np.ndarray) -> None:
        np.maximum(x, 0, out=out)

    def gradient(self, grad_output: np.ndarray, saved: np.ndarray, out: np.ndarray) -> None:
        # Multiplying by a mask is several times faster than np.where.
        np.multiply(grad_output, saved > 0, out=out)


class LeakyReLUOp(ElementwiseOp):
    def __init__(self, alpha: float) -> None:
        super().__init__()
        self.alpha = alpha

    def function(self, x: np.ndarray, out: np.ndarray) -> None:
        # max(x, αx) is the leaky ReLU for 0 ≤ α ≤ 1 (the parameter's range).
        np.multiply(x, x.dtype.type(self.alpha), out=out)
        np.maximum(x, out, out=out)

    def save_for_backward(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return x > 0

    def gradient(self, grad_output: np.ndarray, saved: np.ndarray, out: np.ndarray) -> None:
        np.multiply(grad_output, saved, out=out)
        out *= out.dtype.type(1 - self.alpha)
        out += out.dtype.type(self.alpha) * grad_output


class SigmoidOp(ElementwiseOp):
    def function(self, x: np.ndarray, out: np.ndarray) -> None:
        # 0.5·(1 + tanh(x/2)) equals 1/(1 + e^−x) and never overflows.
        half = x.dtype.type(0.5)
        np.multiply(x, half, out=out)
        np.tanh(out, out=out)
        out += 1
        out *= half

    def gradient(self, grad_output: np.ndarray, saved: np.ndarray, out: np.ndarray) -> None:
        np.subtract(1, saved, out=out)
        out *= saved
        out *= grad_output


class TanhOp(ElementwiseOp):
    def function(self, x: np.ndarray, out: np.ndarray) -> None:
        np.tanh(x, out=out)

    def gradient(self, grad_output: np.ndarray, saved: np.ndarray, out: np.ndarray) -> None:
        np.multiply(saved, saved, out=out)
        np.subtract(1, out, out=out)
        out *= grad_output


class ELUOp(ElementwiseOp):
    def __init__(self, alpha: float) -> None:
        super().__init__()
        self.alpha = alpha

    def function(self, x: np.ndarray, out: np.ndarray) -> None:
        # alpha·(e^min(x,0) − 1) + max(x, 0): each term vanishes on the other side of 0.
        np.minimum(x, 0, out=out)
        np.expm1(out, out=out)
        out *= x.dtype.type(self.alpha)
        out += np.maximum(x, 0)

    def save_for_backward(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        # The slope: 1 above zero, alpha·e^x = y + alpha below.
        return np.where(x > 0, x.dtype.type(1), y + x.dtype.type(self.alpha))

    def gradient(self, grad_output: np.ndarray, saved: np.ndarray, out: np.ndarray) -> None:
        np.multiply(grad_output, saved, out=out)


class SoftmaxOp(Op):
    """Softmax over features (N×F, axis 1) or over channels at each pixel (C×N×H×W, axis 0)."""

    def forward(self, inputs: list[np.ndarray], training: bool) -> np.ndarray:
        x = inputs[0]
        axis = 0 if x.ndim == 4 else 1
        shifted = x - x.max(axis=axis, keepdims=True)
        np.exp(shifted, out=shifted)
        shifted /= shifted.sum(axis=axis, keepdims=True)
        if training:
            self._out, self._axis = shifted, axis
        return shifted

    def backward(self, grad_output: np.ndarray) -> list[np.ndarray | None]:
        y = self._out
        return [y * (grad_output - (grad_output * y).sum(axis=self._axis, keepdims=True))]


class DropoutOp(Op):
    """Inverted dropout: in training, zero each unit with probability ``rate`` and scale survivors.

    Masks come from 16-bit random integers (much faster than uniform floats); the
    rate is applied to within 1/65536. ``enabled`` switches it off while training runs.
    """

    uses_rng = True

    def __init__(self, rate: float) -> None:
        super().__init__()
        self.rate = rate
        self.enabled = True
        self._threshold = round(rate * 65536)
        self._mask: np.ndarray | None = None

    def forward(self, inputs: list[np.ndarray], training: bool) -> np.ndarray:
        x = inputs[0]
        if not (training and self.enabled and self._threshold):
            self._mask = None
            return x
        keep = self.rng.integers(0, 65536, size=x.shape, dtype=np.uint16) >= self._threshold
        mask = keep.astype(x.dtype)
        mask *= x.dtype.type(65536 / (65536 - self._threshold))
        self._mask = mask
        return x * mask

    def backward(self, grad_output: np.ndarray) -> list[np.ndarray | None]:
        return [grad_output if self._mask is None else grad_output * self._mask]


class AddOp(Op):
    def __init__(self, count: int) -> None:
        super().__init__()
        self.count = count

    def forward(self, inputs: list[np.ndarray], training: bool) -> np.ndarray:
        out = inputs[0] + inputs[1]
        for extra in inputs[2:]:
            out += extra
        return out

    def backward(self, grad_output: np.ndarray) -> list[np.ndarray | None]:
        return [grad_output] * self.count


class ConcatOp(Op):
    """Join along channels: axis 0 of C×N×H×W (contiguous blocks), axis 1 of N×F."""

    def __init__(self, sizes: list[int], image: bool) -> None:
        super().__init__()
        self.sizes, self.axis = sizes, 0 if image else 1
        self.bounds = np.cumsum([0, *sizes])

    def forward(self, inputs: list[np.ndarray], training: bool) -> np.ndarray:
        return np.concatenate(inputs, axis=self.axis)

    def backward(self, grad_output: np.ndarray) -> list[np.ndarray | None]:
        pieces = []
        for start, stop in zip(self.bounds[:-1], self.bounds[1:]):
            index = [slice(None)] * grad_output.ndim
            index[self.axis] = slice(start, stop)
            pieces.append(grad_output[tuple(index)])
        return pieces
