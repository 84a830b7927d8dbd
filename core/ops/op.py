"""The runtime side of a layer: forward and backward for fixed input shapes.

A layer class builds one :class:`Op` per network node (``Layer.build``). The model
gives each op views into its flat parameter and gradient buffers, calls ``forward``
in topological order and ``backward`` in reverse. Ops cache what backward needs
during a training forward pass; one backward follows each training forward.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

import numpy as np

from core.ops.kernels import split_rows

Initializer = Literal["he_normal", "glorot_uniform", "zeros", "ones", "constant"]


@dataclass(frozen=True)
class ParamInit:
    """Shape and initial values of one parameter tensor.

    Attributes
    ----------
    shape
        Tensor shape, e.g. ``(filters, C / groups, kh, kw)`` for a convolution kernel.
    initializer
        ``he_normal`` (ReLU-family nets), ``glorot_uniform``, ``zeros``, ``ones`` or
        ``constant`` (every value ``value``).
    fan_in, fan_out
        Connections per output and per input unit, for the scaled initialisers.
    regularized
        Whether L1/L2 penalties apply (kernels yes; biases and normalisation no).
    value
        The fill of the ``constant`` initialiser (PReLU's slopes start at 0.25).
    """

    shape: tuple[int, ...]
    initializer: Initializer
    fan_in: int = 1
    fan_out: int = 1
    regularized: bool = False
    value: float = 0.0


class Op:
    """Forward and backward of one layer for one set of input shapes (batch excluded).

    Attributes
    ----------
    params, grads
        Set by the model: name → array view into the flat parameter / gradient buffer.
    buffers
        Non-trained state the op keeps and the model saves (BatchNorm's running statistics).
    input_grad
        Whether ``backward`` must return the input gradient; the model turns it off for
        layers reading the data directly during training, where it would be wasted.
    """

    uses_rng: ClassVar[bool] = False

    def __init__(self) -> None:
        self.input_grad = True
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}
        self.buffers: dict[str, np.ndarray] = {}
        self.rng: np.random.Generator = np.random.default_rng(0)

    def param_inits(self) -> dict[str, ParamInit]:
        """Parameters this op needs, by name (in a stable order)."""
        return {}

    def buffer_inits(self) -> dict[str, tuple[tuple[int, ...], float]]:
        """Non-trained state: name → (shape, fill value)."""
        return {}

    def forward(self, inputs: list[np.ndarray], training: bool) -> np.ndarray:
        """Return the output for a batch. Image tensors are C×N×H×W, vectors N×F.

        The op of a layer with several outputs (``Layer.output_count`` > 1) returns a list
        of arrays, one per output, in port order.
        """
        raise NotImplementedError

    def backward(self, grad_output: np.ndarray) -> list[np.ndarray | None]:
        """Write parameter gradients into ``self.grads``; return one gradient per input.

        The op of a layer with several outputs receives a list of gradients, one per
        output, ``None`` for an output that reaches no loss (at least one is an array).
        """
        raise NotImplementedError


class ElementwiseOp(Op):
    """An op whose output depends on each input element alone (activations).

    Subclasses write ``function`` and ``gradient`` into a given output slice; large
    tensors are processed in two halves on two threads.
    """

    def __init__(self) -> None:
        super().__init__()
        self._saved: np.ndarray | None = None

    def forward(self, inputs: list[np.ndarray], training: bool) -> np.ndarray:
        x = inputs[0]
        y = np.empty_like(x)
        split_rows(lambda a, b: self.function(x[a:b], y[a:b]), len(x), x.nbytes)
        if training:
            self._saved = self.save_for_backward(x, y)
        return y

    def backward(self, grad_output: np.ndarray) -> list[np.ndarray | None]:
        saved = self._saved
        assert saved is not None, "backward without a training forward"
        d_x = np.empty_like(grad_output)
        split_rows(lambda a, b: self.gradient(grad_output[a:b], saved[a:b], d_x[a:b]), len(d_x), d_x.nbytes)
        return [d_x]

    def function(self, x: np.ndarray, out: np.ndarray) -> None:
        """Write ``f(x)`` into ``out``."""
        raise NotImplementedError

    def save_for_backward(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """What :meth:`gradient` needs: the output by default."""
        return y

    def gradient(self, grad_output: np.ndarray, saved: np.ndarray, out: np.ndarray) -> None:
        """Write ``grad_output · f'(x)`` into ``out``."""
        raise NotImplementedError


class IdentityOp(Op):
    """Passes its input through (Dropout at inference is one)."""

    def forward(self, inputs: list[np.ndarray], training: bool) -> np.ndarray:
        return inputs[0]

    def backward(self, grad_output: np.ndarray) -> list[np.ndarray | None]:
        return [grad_output]
