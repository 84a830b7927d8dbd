"""Optimisers and initialisers against formulas written out independently here."""

from __future__ import annotations

import numpy as np
import pytest

from core.engine.initializers import initial_values
from core.engine.optimizers import make_optimizer
from core.errors import LayerwiseError
from core.ops.op import ParamInit

GRADS = [np.array([0.5, -1.0, 2.0]), np.array([0.1, 0.3, -0.2]), np.array([-0.4, 0.0, 1.0])]


def run(optimizer, lr=0.1):
    params = np.array([1.0, 2.0, -3.0])
    for grad in GRADS:
        optimizer.step(params, grad.copy(), lr)
    return params


def test_sgd():
    assert np.allclose(run(make_optimizer("sgd")), np.array([1.0, 2.0, -3.0]) - 0.1 * sum(GRADS))


@pytest.mark.parametrize("nesterov", [False, True])
def test_momentum_as_pytorch_defines_it(nesterov):
    params, velocity = np.array([1.0, 2.0, -3.0]), np.zeros(3)
    for grad in GRADS:
        velocity = 0.9 * velocity + grad
        params = params - 0.1 * ((grad + 0.9 * velocity) if nesterov else velocity)
    assert np.allclose(run(make_optimizer("momentum", momentum=0.9, nesterov=nesterov)), params)


def test_adam_with_bias_correction():
    params, m, v = np.array([1.0, 2.0, -3.0]), np.zeros(3), np.zeros(3)
    for t, grad in enumerate(GRADS, start=1):
        m = 0.9 * m + 0.1 * grad
        v = 0.999 * v + 0.001 * grad**2
        params = params - 0.1 * (m / (1 - 0.9**t)) / (np.sqrt(v / (1 - 0.999**t)) + 1e-8)
    assert np.allclose(run(make_optimizer("adam")), params)


def test_unknown_optimizer_is_named():
    with pytest.raises(
        LayerwiseError, match="unknown optimizer 'adagrad'; choose one of sgd, momentum, adam, adamw, rmsprop"
    ):
        make_optimizer("adagrad")


def test_initialisers_have_their_published_scale():
    rng = np.random.default_rng(0)
    he = initial_values(ParamInit((400, 250), "he_normal", fan_in=250, fan_out=400), rng, np.dtype(np.float64))
    assert he.std() == pytest.approx(np.sqrt(2 / 250), rel=0.02) and abs(he.mean()) < 0.005
    glorot = initial_values(ParamInit((400, 250), "glorot_uniform", fan_in=250, fan_out=400), rng, np.dtype(np.float32))
    limit = np.sqrt(6 / 650)
    assert glorot.dtype == np.float32 and glorot.max() <= limit and glorot.min() >= -limit
    assert glorot.max() > 0.99 * limit
