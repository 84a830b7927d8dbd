"""Weight initialisation: He for ReLU-family layers, Glorot otherwise."""

from __future__ import annotations

import numpy as np

from core.ops.op import ParamInit


def initial_values(init: ParamInit, rng: np.random.Generator, dtype: np.dtype) -> np.ndarray:
    """Return initial values for ``init``.

    ``he_normal``: N(0, 2 / fan_in) (He et al. 2015); ``glorot_uniform``:
    U(±√(6 / (fan_in + fan_out))) (Glorot & Bengio 2010).
    """
    if init.initializer == "zeros":
        return np.zeros(init.shape, dtype=dtype)
    if init.initializer == "ones":
        return np.ones(init.shape, dtype=dtype)
    if init.initializer == "constant":
        return np.full(init.shape, init.value, dtype=dtype)
    if init.initializer == "he_normal":
        return (rng.standard_normal(init.shape) * np.sqrt(2.0 / init.fan_in)).astype(dtype)
    if init.initializer == "glorot_uniform":
        limit = np.sqrt(6.0 / (init.fan_in + init.fan_out))
        return rng.uniform(-limit, limit, init.shape).astype(dtype)
    raise ValueError(f"unknown initializer {init.initializer!r}")
