"""The curve ``f(x)`` of an activation layer, sampled by the engine itself.

A two-layer network ``Input → activation`` is run forward on a range of inputs, so the
curve is exactly the function the layer applies, with its current parameters
(``alpha`` …), not a second implementation of it.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from core.engine.model import Model
from core.graph.document import NetworkDocument
from core.layers.base import Layer

X_RANGE = (-4.0, 4.0)
"""The inputs the curve is sampled on, ends included."""
POINTS = 401
"""Samples on :data:`X_RANGE`: a step of 0.02."""


@lru_cache(maxsize=32)
def _sampled(type_name: str, params: tuple[tuple[str, object], ...]) -> tuple[np.ndarray, np.ndarray]:
    # Cached per type and parameters: the inspector redraws the curve on every document edit.
    document = NetworkDocument("activation curve")
    source = document.add_node("Input", {"shape": [POINTS]}, name="x")
    document.chain(source.id, [(type_name, dict(params), "f")])
    x = np.linspace(*X_RANGE, POINTS)
    y = Model(document, dtype=np.float64).forward(x[None])[0]
    # Shared by every caller of the cache: read-only, so no caller can change another's curve.
    x.setflags(write=False)
    y.setflags(write=False)
    return x, y


def activation_curve(layer: Layer) -> tuple[np.ndarray, np.ndarray]:
    """``(x, f(x))`` of an activation layer on :data:`X_RANGE`, each ``(POINTS,)`` float64, read-only.

    Raises
    ------
    ValueError
        When ``layer`` is not an elementwise activation function.
    """
    if not layer.is_activation_function:
        raise ValueError(f"{layer.type_name} has no curve to draw")
    return _sampled(layer.type_name, tuple(sorted(layer.get_config().items())))
