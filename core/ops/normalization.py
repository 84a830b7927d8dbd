"""Runtimes of the per-sample normalisations (LayerNorm, GroupNorm) and of the elementwise product.

Tensors are C×N×H×W (images) or N×F (vectors), as everywhere in the engine. Unlike
BatchNorm, these normalisations compute their statistics from each sample alone, so
training and inference compute the same function and nothing is kept between batches.
"""

from __future__ import annotations

import numpy as np

from core.ops.op import Op, ParamInit


class _PerSampleNormOp(Op):
    """Normalise groups of values to zero mean and unit variance, then an elementwise affine map.

    A subclass says which values share statistics (:meth:`_grouped`: a view of the input
    whose axes :attr:`axes` are averaged over) and how the learned scale and shift
    broadcast onto the input (:attr:`param_shape` and :attr:`broadcast`)::

        x̂ = (x − μ) / √(σ² + ε),   y = γ · x̂ + β

    with ``μ`` and ``σ²`` the mean and biased variance of each group. Backward, per group
    of ``m`` values with ``g = ∂L/∂x̂ = γ · ∂L/∂y``::

        ∂L/∂x = (g − mean(g) − x̂ · mean(g · x̂)) / √(σ² + ε)

    Attributes
    ----------
    axes
        Axes of :meth:`_grouped`'s view that one group's statistics run over.
    param_shape
        Shape of γ and β.
    broadcast
        Shape γ and β take to broadcast onto the engine tensor, e.g. ``(C, 1, 1, 1)``.
    """

    axes: tuple[int, ...]
    param_shape: tuple[int, ...]
    broadcast: tuple[int, ...]

    def __init__(self, epsilon: float) -> None:
        super().__init__()
        self.epsilon = epsilon

    def param_inits(self) -> dict[str, ParamInit]:
        return {"gamma": ParamInit(self.param_shape, "ones"), "beta": ParamInit(self.param_shape, "zeros")}

    def _grouped(self, x: np.ndarray) -> np.ndarray:
        """``x`` reshaped (no copy) so that each group's values lie along :attr:`axes`."""
        return x

    def _param_axes(self, ndim: int) -> tuple[int, ...]:
        """Axes of the engine tensor that γ and β are shared along (summed for their gradients)."""
        shape = (1,) * (ndim - len(self.broadcast)) + self.broadcast
        return tuple(axis for axis, size in enumerate(shape) if size == 1)

    def forward(self, inputs: list[np.ndarray], training: bool) -> np.ndarray:
        x = inputs[0]
        grouped = self._grouped(x)
        centred = grouped - grouped.mean(axis=self.axes, keepdims=True)
        inv_std = 1.0 / np.sqrt(np.mean(centred * centred, axis=self.axes, keepdims=True) + self.epsilon)
        normalised = (centred * inv_std).reshape(x.shape)
        if training:
            self._normalised, self._inv_std = normalised, inv_std
        gamma, beta = self.params["gamma"].reshape(self.broadcast), self.params["beta"].reshape(self.broadcast)
        return normalised * gamma + beta

    def backward(self, grad_output: np.ndarray) -> list[np.ndarray | None]:
        normalised = self._normalised
        shared = self._param_axes(grad_output.ndim)
        self.grads["gamma"][...] = np.sum(grad_output * normalised, axis=shared).reshape(self.param_shape)
        self.grads["beta"][...] = np.sum(grad_output, axis=shared).reshape(self.param_shape)
        if not self.input_grad:
            return [None]
        d_normalised = self._grouped(grad_output * self.params["gamma"].reshape(self.broadcast))
        grouped = self._grouped(normalised)
        d_x = d_normalised - d_normalised.mean(axis=self.axes, keepdims=True)
        d_x -= grouped * np.mean(d_normalised * grouped, axis=self.axes, keepdims=True)
        d_x *= self._inv_std
        return [d_x.reshape(grad_output.shape)]


class LayerNormOp(_PerSampleNormOp):
    """Layer normalisation of each sample, as PyTorch's ``LayerNorm`` and ONNX ``LayerNormalization``.

    ``over_channels`` on an image normalises the C values at each pixel (axis 0 of
    C×N×H×W; ConvNeXt's channels-last LayerNorm), with γ, β of shape ``(C,)``; otherwise
    an image is normalised over its C×H×W values (axes 0, 2, 3) with γ, β of shape
    ``(C, H, W)``. A vector (N×F) is normalised over its F features, γ, β ``(F,)``.
    """

    def __init__(self, shape: tuple[int, ...], over_channels: bool, epsilon: float) -> None:
        super().__init__(epsilon)
        if len(shape) == 1:
            self.axes, self.param_shape, self.broadcast = (1,), shape, shape
        elif over_channels:
            self.axes, self.param_shape, self.broadcast = (0,), shape[:1], (shape[0], 1, 1, 1)
        else:
            channels, height, width = shape
            self.axes, self.param_shape, self.broadcast = (0, 2, 3), shape, (channels, 1, height, width)


class GroupNormOp(_PerSampleNormOp):
    """Group normalisation (Wu & He, 2018), as PyTorch's ``GroupNorm``: per sample and group of channels.

    The C channels (or F features) split into ``groups`` runs of ``C / groups``
    consecutive ones; each sample's group is normalised over its channels and positions,
    then each channel gets its own γ and β (shape ``(C,)``). ``groups = C`` is instance
    normalisation; ``groups = 1`` normalises each sample over everything.
    """

    def __init__(self, shape: tuple[int, ...], groups: int, epsilon: float) -> None:
        super().__init__(epsilon)
        self.groups = groups
        channels = shape[0]
        self.param_shape = (channels,)
        if len(shape) == 1:
            self.axes, self.broadcast = (2,), (channels,)
        else:
            self.axes, self.broadcast = (1, 3), (channels, 1, 1, 1)

    def _grouped(self, x: np.ndarray) -> np.ndarray:
        if x.ndim == 2:  # N×F → N × groups × F/groups
            return x.reshape(x.shape[0], self.groups, -1)
        # C×N×H×W → groups × C/groups × N × H·W: channels lead, so a group is a contiguous run.
        return x.reshape(self.groups, -1, x.shape[1], x.shape[2] * x.shape[3])


class MultiplyOp(Op):
    """``y = a · b`` elementwise; ``b`` may be a per-channel gate broadcast over H and W.

    ``a`` is C×N×H×W or N×F; ``b`` has ``a``'s shape, or is a C×N×1×1 map (which
    broadcasts as it is) or, with ``vector_gate``, an N×C vector (made C×N×1×1).
    Backward, ``∂L/∂a = g · b`` and ``∂L/∂b = g · a``, summed over H and W where ``b``
    was broadcast.
    """

    def __init__(self, vector_gate: bool) -> None:
        super().__init__()
        self.vector_gate = vector_gate

    def forward(self, inputs: list[np.ndarray], training: bool) -> np.ndarray:
        a, b = inputs
        gate = b.T[:, :, None, None] if self.vector_gate else b
        if training:
            self._a, self._gate = a, gate
        return a * gate

    def backward(self, grad_output: np.ndarray) -> list[np.ndarray | None]:
        d_a = grad_output * self._gate
        d_gate = grad_output * self._a
        if self._gate.shape != grad_output.shape:  # broadcast over H and W
            d_gate = d_gate.sum(axis=(2, 3), keepdims=True)
        return [d_a, np.ascontiguousarray(d_gate[:, :, 0, 0].T) if self.vector_gate else d_gate]
