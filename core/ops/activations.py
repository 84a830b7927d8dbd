"""Runtimes of the activations added beside the classic ones of :mod:`core.ops.basic`.

Elementwise ones derive from :class:`~core.ops.op.ElementwiseOp` and write ``f(x)`` and
``grad · f'(x)`` into the slices they are given; PReLU (a learned slope per channel) and
LogSoftmax (a normalisation over an axis) are whole-tensor ops. Image tensors are
C×N×H×W, feature vectors N×F. Constants are cast to the input's dtype so that float32
stays float32.
"""

from __future__ import annotations

import math

import numpy as np

from core.ops.op import ElementwiseOp, Op, ParamInit

SQRT_2_OVER_PI = math.sqrt(2 / math.pi)
"""``√(2/π)``, the scale inside the tanh approximation of GELU."""
GELU_CUBIC = 0.044715
"""The cubic coefficient of the tanh approximation of GELU (Hendrycks & Gimpel 2016)."""


def _sigmoid(x: np.ndarray, out: np.ndarray) -> None:
    """Write ``σ(x) = 1 / (1 + e^−x)`` into ``out`` as ``0.5·(1 + tanh(x/2))``, which never overflows."""
    half = x.dtype.type(0.5)
    np.multiply(x, half, out=out)
    np.tanh(out, out=out)
    out += 1
    out *= half


def _erf(x: np.ndarray, out: np.ndarray) -> None:
    """Write ``erf(x)`` into ``out`` (NumPy has no error function).

    SciPy comes with scikit-learn; it is imported on first use because importing it
    takes a noticeable fraction of a second and most networks never need it.
    """
    from scipy.special import erf

    erf(x, out=out)


class ReLU6Op(ElementwiseOp):
    """``y = min(max(0, x), 6)``; ``dy/dx = 1`` for ``0 < x < 6``, else 0."""

    def function(self, x: np.ndarray, out: np.ndarray) -> None:
        np.clip(x, 0, 6, out=out)

    def gradient(self, grad_output: np.ndarray, saved: np.ndarray, out: np.ndarray) -> None:
        # The output is strictly inside (0, 6) exactly where the input is.
        np.multiply(grad_output, (saved > 0) & (saved < 6), out=out)


class HardTanhOp(ElementwiseOp):
    """``y = min(max(x, low), high)``; ``dy/dx = 1`` for ``low < x < high``, else 0 (as PyTorch's)."""

    def __init__(self, low: float, high: float) -> None:
        super().__init__()
        self.low, self.high = low, high

    def function(self, x: np.ndarray, out: np.ndarray) -> None:
        np.clip(x, x.dtype.type(self.low), x.dtype.type(self.high), out=out)

    def gradient(self, grad_output: np.ndarray, saved: np.ndarray, out: np.ndarray) -> None:
        # The output is strictly inside (low, high) exactly where the input is.
        kind = saved.dtype.type
        np.multiply(grad_output, (saved > kind(self.low)) & (saved < kind(self.high)), out=out)


class SELUOp(ElementwiseOp):
    """``y = γ·x`` for ``x > 0``, ``γ·α·(e^x − 1)`` otherwise (Klambauer et al. 2017).

    ``dy/dx`` is ``γ`` above zero and ``γ·α·e^x = y + γ·α`` below; ``y > 0`` exactly where
    ``x > 0`` (γ > 0), so the output is all backward needs.
    """

    def __init__(self, alpha: float, gamma: float) -> None:
        super().__init__()
        self.alpha, self.gamma = alpha, gamma

    def function(self, x: np.ndarray, out: np.ndarray) -> None:
        # α·(e^min(x,0) − 1) + max(x, 0), times γ: each term vanishes on the other side of 0.
        kind = x.dtype.type
        np.minimum(x, 0, out=out)
        np.expm1(out, out=out)
        out *= kind(self.alpha)
        out += np.maximum(x, 0)
        out *= kind(self.gamma)

    def gradient(self, grad_output: np.ndarray, saved: np.ndarray, out: np.ndarray) -> None:
        kind = saved.dtype.type
        np.add(saved, kind(self.gamma * self.alpha), out=out)
        np.putmask(out, saved > 0, kind(self.gamma))
        out *= grad_output


class HardSigmoidOp(ElementwiseOp):
    """``y = max(0, min(1, α·x + β))``; ``dy/dx = α`` where ``0 < y < 1``, else 0."""

    def __init__(self, alpha: float, beta: float) -> None:
        super().__init__()
        self.alpha, self.beta = alpha, beta

    def function(self, x: np.ndarray, out: np.ndarray) -> None:
        np.multiply(x, x.dtype.type(self.alpha), out=out)
        out += x.dtype.type(self.beta)
        np.clip(out, 0, 1, out=out)

    def gradient(self, grad_output: np.ndarray, saved: np.ndarray, out: np.ndarray) -> None:
        np.multiply(grad_output, (saved > 0) & (saved < 1), out=out)
        out *= out.dtype.type(self.alpha)


class HardSwishOp(ElementwiseOp):
    """``y = x · max(0, min(1, x/6 + 1/2))`` (Howard et al. 2019, MobileNetV3).

    ``dy/dx`` is 0 below −3, ``x/3 + 1/2`` on [−3, 3] and 1 above 3 (as PyTorch's).
    """

    def function(self, x: np.ndarray, out: np.ndarray) -> None:
        np.multiply(x, x.dtype.type(1 / 6), out=out)
        out += x.dtype.type(0.5)
        np.clip(out, 0, 1, out=out)
        out *= x

    def save_for_backward(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return x

    def gradient(self, grad_output: np.ndarray, saved: np.ndarray, out: np.ndarray) -> None:
        np.multiply(saved, saved.dtype.type(1 / 3), out=out)
        out += saved.dtype.type(0.5)
        np.putmask(out, saved < -3, 0)
        np.putmask(out, saved > 3, 1)
        out *= grad_output


class SiLUOp(ElementwiseOp):
    """``y = x · σ(x)`` (SiLU, Swish); ``dy/dx = σ(x) · (1 + x · (1 − σ(x)))``."""

    def function(self, x: np.ndarray, out: np.ndarray) -> None:
        _sigmoid(x, out)
        out *= x

    def save_for_backward(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return x

    def gradient(self, grad_output: np.ndarray, saved: np.ndarray, out: np.ndarray) -> None:
        _sigmoid(saved, out)
        slope = np.subtract(1, out)
        slope *= saved
        slope += 1
        out *= slope
        out *= grad_output


class GELUOp(ElementwiseOp):
    """``y = x · Φ(x)``, Φ the standard normal CDF (Hendrycks & Gimpel 2016).

    ``approximate="none"``: ``Φ(x) = (1 + erf(x/√2)) / 2`` and ``dy/dx = Φ(x) + x·φ(x)``
    with ``φ(x) = e^(−x²/2) / √(2π)``. ``approximate="tanh"``: ``Φ(x) ≈ (1 + tanh(u)) / 2``
    with ``u = √(2/π)·(x + 0.044715·x³)``, and ``dy/dx = (1 + t)/2 + x·(1 − t²)/2 · du/dx``
    with ``t = tanh(u)``, ``du/dx = √(2/π)·(1 + 3·0.044715·x²)``.
    """

    def __init__(self, approximate: str) -> None:
        super().__init__()
        self.approximate = approximate

    def _cdf(self, x: np.ndarray, out: np.ndarray) -> None:
        """Write the (approximate) ``Φ(x)`` into ``out``."""
        kind = x.dtype.type
        if self.approximate == "tanh":
            np.multiply(x, x, out=out)
            out *= kind(GELU_CUBIC)
            out += 1
            out *= x
            out *= kind(SQRT_2_OVER_PI)
            np.tanh(out, out=out)
        else:
            np.multiply(x, kind(1 / math.sqrt(2)), out=out)
            _erf(out, out)
        out += 1
        out *= kind(0.5)

    def function(self, x: np.ndarray, out: np.ndarray) -> None:
        self._cdf(x, out)
        out *= x

    def save_for_backward(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return x

    def gradient(self, grad_output: np.ndarray, saved: np.ndarray, out: np.ndarray) -> None:
        x, kind = saved, saved.dtype.type
        self._cdf(x, out)
        if self.approximate == "tanh":
            # (1 − t²)/2 = 2·Φ·(1 − Φ) with Φ = (1 + t)/2: t itself need not be kept.
            term = np.subtract(1, out)
            term *= out
            term *= kind(2 * SQRT_2_OVER_PI)
            term *= 1 + kind(3 * GELU_CUBIC) * x * x
        else:
            term = np.multiply(x, x)
            term *= kind(-0.5)
            np.exp(term, out=term)
            term *= kind(1 / math.sqrt(2 * math.pi))
        term *= x
        out += term
        out *= grad_output


class SoftplusOp(ElementwiseOp):
    """``y = log(1 + e^x)``, written to stay finite for large ``|x|``; ``dy/dx = σ(x)``."""

    def function(self, x: np.ndarray, out: np.ndarray) -> None:
        np.logaddexp(0, x, out=out)

    def save_for_backward(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return x

    def gradient(self, grad_output: np.ndarray, saved: np.ndarray, out: np.ndarray) -> None:
        _sigmoid(saved, out)
        out *= grad_output


class PReLUOp(Op):
    """``y = x`` for ``x > 0``, ``a_c · x`` otherwise, with a learned slope ``a_c`` per channel.

    The slopes are the parameter ``weight`` of shape ``(C,)`` (PyTorch's name and layout),
    starting at 0.25 (He et al. 2015) and not penalised by L1/L2, like biases: decaying
    them towards 0 would push the layer towards a plain ReLU. Channels are axis 0 of
    C×N×H×W and axis 1 of N×F. Gradients: ``dy/dx = 1`` or ``a_c``;
    ``∂L/∂a_c = Σ grad · min(x, 0)`` over the channel's elements.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.channels = channels

    def param_inits(self) -> dict[str, ParamInit]:
        return {"weight": ParamInit((self.channels,), "constant", value=0.25)}

    @staticmethod
    def _per_channel(vector: np.ndarray, ndim: int) -> np.ndarray:
        return vector[:, None, None, None] if ndim == 4 else vector

    def forward(self, inputs: list[np.ndarray], training: bool) -> np.ndarray:
        x = inputs[0]
        negative = np.minimum(x, 0)
        out = negative * self._per_channel(self.params["weight"], x.ndim)
        out += np.maximum(x, 0)
        if training:
            self._negative = negative
        return out

    def backward(self, grad_output: np.ndarray) -> list[np.ndarray | None]:
        negative = self._negative
        axes = (1, 2, 3) if grad_output.ndim == 4 else (0,)
        self.grads["weight"][...] = np.sum(grad_output * negative, axis=axes)
        if not self.input_grad:
            return [None]
        slope = self._per_channel(self.params["weight"], grad_output.ndim)
        return [np.where(negative < 0, grad_output * slope, grad_output)]


class LogSoftmaxOp(Op):
    """``y = x − log Σ e^x`` over features (N×F, axis 1) or over channels at each pixel (C×N×H×W, axis 0).

    Computed as ``(x − max) − log Σ e^(x − max)``, finite for any input. Backward:
    ``dx = grad − e^y · Σ grad`` (``e^y`` is the softmax).
    """

    def forward(self, inputs: list[np.ndarray], training: bool) -> np.ndarray:
        x = inputs[0]
        axis = 0 if x.ndim == 4 else 1
        out = x - x.max(axis=axis, keepdims=True)
        out -= np.log(np.exp(out).sum(axis=axis, keepdims=True))
        if training:
            self._out, self._axis = out, axis
        return out

    def backward(self, grad_output: np.ndarray) -> list[np.ndarray | None]:
        return [grad_output - np.exp(self._out) * grad_output.sum(axis=self._axis, keepdims=True)]
