"""The curve of an activation layer, sampled by the engine, against the formulas."""

from __future__ import annotations

import numpy as np
import pytest

from core.analysis.activation_curve import POINTS, X_RANGE, activation_curve
from core.layers import create_layer

X = np.linspace(-4.0, 4.0, 401)


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


@pytest.mark.parametrize(
    ("type_name", "params", "formula"),
    [
        ("ReLU", {}, lambda x: np.maximum(x, 0.0)),
        ("LeakyReLU", {"alpha": 0.2}, lambda x: np.where(x > 0, x, 0.2 * x)),
        ("LeakyReLU", {"alpha": 0.5}, lambda x: np.where(x > 0, x, 0.5 * x)),
        ("Sigmoid", {}, sigmoid),
        ("Tanh", {}, np.tanh),
        ("ELU", {"alpha": 1.0}, lambda x: np.where(x > 0, x, np.exp(x) - 1.0)),
        ("ELU", {"alpha": 0.3}, lambda x: np.where(x > 0, x, 0.3 * (np.exp(x) - 1.0))),
    ],
)
def test_the_curve_is_the_function_on_minus_four_to_four(type_name, params, formula):
    x, y = activation_curve(create_layer(type_name, params))
    assert x.shape == y.shape == (POINTS,) and x.dtype == y.dtype == np.float64
    np.testing.assert_allclose(x, X, rtol=0, atol=1e-12)
    np.testing.assert_allclose(y, formula(X), rtol=1e-12, atol=1e-12)


def test_the_range_is_sampled_evenly_with_its_ends():
    x, _ = activation_curve(create_layer("ReLU"))
    assert (x[0], x[-1]) == X_RANGE == (-4.0, 4.0)
    np.testing.assert_allclose(np.diff(x), 0.02, rtol=1e-9)
    assert 0.0 in x  # the kink of ReLU-like functions is a sample


def test_shared_curves_are_read_only():
    x, y = activation_curve(create_layer("Tanh"))
    again = activation_curve(create_layer("Tanh"))
    assert again[0] is x and again[1] is y  # cached: one forward pass per type and parameters
    for array in (x, y):
        with pytest.raises(ValueError, match="read-only"):
            array[0] = 1.0


@pytest.mark.parametrize(("type_name", "params"), [("Conv2D", {}), ("Softmax", {}), ("Dense", {"units": 3})])
def test_other_layers_have_no_curve(type_name, params):
    with pytest.raises(ValueError, match=f"{type_name} has no curve"):
        activation_curve(create_layer(type_name, params))
