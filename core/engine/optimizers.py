"""Optimisers updating one flat parameter vector in place (a few NumPy calls per step)."""

from __future__ import annotations

import numpy as np

from core.errors import LayerwiseError


class Optimizer:
    """Updates ``params`` from ``grads`` (both flat, same dtype) with learning rate ``lr``."""

    def step(self, params: np.ndarray, grads: np.ndarray, lr: float) -> None:
        raise NotImplementedError


class SGD(Optimizer):
    """``θ ← θ − lr·g``."""

    def step(self, params: np.ndarray, grads: np.ndarray, lr: float) -> None:
        params -= params.dtype.type(lr) * grads


class Momentum(Optimizer):
    """Heavy-ball momentum as PyTorch: ``v ← μv + g``; ``θ ← θ − lr·v`` (Nesterov: ``θ ← θ − lr·(g + μv)``)."""

    def __init__(self, momentum: float = 0.9, nesterov: bool = False) -> None:
        self.momentum, self.nesterov = momentum, nesterov
        self.velocity: np.ndarray | None = None

    def step(self, params: np.ndarray, grads: np.ndarray, lr: float) -> None:
        if self.velocity is None:
            self.velocity = np.zeros_like(params)
        mu, rate = params.dtype.type(self.momentum), params.dtype.type(lr)
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

    def step(self, params: np.ndarray, grads: np.ndarray, lr: float) -> None:
        if self.m is None:
            self.m, self.v = np.zeros_like(params), np.zeros_like(params)
        assert self.v is not None
        self.t += 1
        b1, b2 = self.beta1, self.beta2
        self.m *= b1
        self.m += (1 - b1) * grads
        self.v *= b2
        self.v += (1 - b2) * (grads * grads)
        step_size = lr / (1 - b1**self.t)
        denominator = np.sqrt(self.v / (1 - b2**self.t))
        denominator += self.epsilon
        params -= params.dtype.type(step_size) * (self.m / denominator)


OPTIMIZERS = ("sgd", "momentum", "adam")


def make_optimizer(name: str, *, momentum: float = 0.9, nesterov: bool = False) -> Optimizer:
    """Return a fresh optimiser called ``name`` (one of :data:`OPTIMIZERS`)."""
    if name == "sgd":
        return SGD()
    if name == "momentum":
        return Momentum(momentum, nesterov)
    if name == "adam":
        return Adam()
    raise LayerwiseError(f"unknown optimizer {name!r}; choose one of {', '.join(OPTIMIZERS)}")
