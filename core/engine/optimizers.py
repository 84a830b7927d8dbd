"""Optimisers updating one flat parameter vector in place (a few NumPy calls per step).

The learning rate ``lr`` is one number, or one per parameter (an array shaped like
``params``, float64): each formula then reads as PyTorch's with one parameter group per
rate. A value whose rate is 0 and whose gradient is 0 (a frozen layer's) stays exactly as
it is under every optimiser here, momentum, Adam's moments and AdamW's decay included.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from core.errors import LayerwiseError

Rate = float | np.ndarray
"""A learning rate: one for all parameters, or ``(P,)`` float64, one per parameter."""


def _rate(lr: Rate, dtype: np.dtype, formula: Callable[[Rate], Rate] = lambda rate: rate) -> Rate:
    """``formula(lr)`` in float64, then in ``dtype`` (a scalar of it, or an array)."""
    if np.ndim(lr) == 0:
        return dtype.type(formula(float(lr)))  # type: ignore[arg-type]
    return np.asarray(formula(np.asarray(lr, dtype=np.float64))).astype(dtype, copy=False)


class Optimizer:
    """Updates ``params`` from ``grads`` (both flat, same dtype) with learning rate ``lr``."""

    def step(self, params: np.ndarray, grads: np.ndarray, lr: Rate) -> None:
        raise NotImplementedError


class SGD(Optimizer):
    """``θ ← θ − lr·g``."""

    def step(self, params: np.ndarray, grads: np.ndarray, lr: Rate) -> None:
        params -= _rate(lr, params.dtype) * grads


class Momentum(Optimizer):
    """Heavy-ball momentum as PyTorch: ``v ← μv + g``; ``θ ← θ − lr·v`` (Nesterov: ``θ ← θ − lr·(g + μv)``)."""

    def __init__(self, momentum: float = 0.9, nesterov: bool = False) -> None:
        self.momentum, self.nesterov = momentum, nesterov
        self.velocity: np.ndarray | None = None

    def step(self, params: np.ndarray, grads: np.ndarray, lr: Rate) -> None:
        if self.velocity is None:
            self.velocity = np.zeros_like(params)
        mu, rate = params.dtype.type(self.momentum), _rate(lr, params.dtype)
        self.velocity *= mu
        self.velocity += grads
        if self.nesterov:
            params -= rate * (grads + mu * self.velocity)
        else:
            params -= rate * self.velocity


class Adam(Optimizer):
    """Adam (Kingma & Ba 2015) with bias correction, as PyTorch computes it."""

    def __init__(self, beta1: float = 0.9, beta2: float = 0.999, epsilon: float = 1e-8) -> None:
        self.beta1, self.beta2, self.epsilon = beta1, beta2, epsilon
        self.m: np.ndarray | None = None
        self.v: np.ndarray | None = None
        self.t = 0

    def step(self, params: np.ndarray, grads: np.ndarray, lr: Rate) -> None:
        if self.m is None:
            self.m, self.v = np.zeros_like(params), np.zeros_like(params)
        assert self.v is not None
        self.t += 1
        b1, b2 = self.beta1, self.beta2
        self.m *= b1
        self.m += (1 - b1) * grads
        self.v *= b2
        self.v += (1 - b2) * (grads * grads)
        correction = 1 - b1**self.t
        step_size = _rate(lr, params.dtype, lambda rate: rate / correction)
        denominator = np.sqrt(self.v / (1 - b2**self.t))
        denominator += self.epsilon
        params -= step_size * (self.m / denominator)


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter 2019), as ``torch.optim.AdamW``.

    Every parameter (kernels, biases, BatchNorm's scale and shift: all of the flat vector,
    as PyTorch decays all of a module's parameters) first shrinks by ``lr·weight_decay``:
    ``θ ← θ·(1 − lr·λ)``, then takes Adam's step.
    """

    def __init__(
        self, weight_decay: float = 0.01, beta1: float = 0.9, beta2: float = 0.999, epsilon: float = 1e-8
    ) -> None:
        super().__init__(beta1, beta2, epsilon)
        self.weight_decay = weight_decay

    def step(self, params: np.ndarray, grads: np.ndarray, lr: Rate) -> None:
        if self.weight_decay:
            decay = self.weight_decay
            params *= _rate(lr, params.dtype, lambda rate: 1 - rate * decay)
        super().step(params, grads, lr)


class RMSprop(Optimizer):
    """RMSprop as ``torch.optim.RMSprop`` (not centred).

    ``s ← αs + (1 − α)g²``; ``u = g / (√s + ε)``; with momentum ``μ``: ``b ← μb + u``,
    ``θ ← θ − lr·b``, else ``θ ← θ − lr·u``.
    """

    def __init__(self, alpha: float = 0.99, epsilon: float = 1e-8, momentum: float = 0.0) -> None:
        self.alpha, self.epsilon, self.momentum = alpha, epsilon, momentum
        self.square_avg: np.ndarray | None = None
        self.buffer: np.ndarray | None = None

    def step(self, params: np.ndarray, grads: np.ndarray, lr: Rate) -> None:
        if self.square_avg is None:
            self.square_avg = np.zeros_like(params)
        alpha = params.dtype.type(self.alpha)
        self.square_avg *= alpha
        self.square_avg += (1 - alpha) * (grads * grads)
        denominator = np.sqrt(self.square_avg)
        denominator += params.dtype.type(self.epsilon)
        update = grads / denominator
        if self.momentum:
            if self.buffer is None:
                self.buffer = np.zeros_like(params)
            self.buffer *= params.dtype.type(self.momentum)
            self.buffer += update
            update = self.buffer
        params -= _rate(lr, params.dtype) * update


def clip_by_global_norm(grads: np.ndarray, max_norm: float) -> float:
    """Scale ``grads`` in place so that their L2 norm is at most ``max_norm``; return the norm before.

    As ``torch.nn.utils.clip_grad_norm_`` over all parameters: the factor is
    ``min(1, max_norm / (‖g‖ + 1e-6))``.
    """
    norm = float(np.sqrt(np.dot(grads.astype(np.float64, copy=False), grads)))
    factor = max_norm / (norm + 1e-6)
    if factor < 1:
        grads *= grads.dtype.type(factor)
    return norm


OPTIMIZERS = ("sgd", "momentum", "adam", "adamw", "rmsprop")
DEFAULT_WEIGHT_DECAY = 0.01
"""AdamW's decoupled weight decay unless set (PyTorch's default)."""


def make_optimizer(
    name: str,
    *,
    momentum: float = 0.9,
    nesterov: bool = False,
    weight_decay: float = DEFAULT_WEIGHT_DECAY,
    rmsprop_momentum: float = 0.0,
) -> Optimizer:
    """Return a fresh optimiser called ``name`` (one of :data:`OPTIMIZERS`).

    ``momentum`` and ``nesterov`` are the ``momentum`` optimiser's, ``weight_decay`` AdamW's,
    ``rmsprop_momentum`` RMSprop's (0 as PyTorch's default).
    """
    if name == "sgd":
        return SGD()
    if name == "momentum":
        return Momentum(momentum, nesterov)
    if name == "adam":
        return Adam()
    if name == "adamw":
        return AdamW(weight_decay)
    if name == "rmsprop":
        return RMSprop(momentum=rmsprop_momentum)
    raise LayerwiseError(f"unknown optimizer {name!r}; choose one of {', '.join(OPTIMIZERS)}")
