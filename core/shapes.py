"""Tensor shapes as the rest of the code speaks of them.

A shape never includes the batch axis: ``(C, H, W)`` for an image-like tensor,
``(F,)`` for a vector of features.
"""

from __future__ import annotations

import math

Shape = tuple[int, ...]


def is_image(shape: Shape) -> bool:
    """Return whether ``shape`` is ``(C, H, W)``."""
    return len(shape) == 3


def format_shape(shape: Shape | None) -> str:
    """Return ``shape`` as people write it: ``64×56×56`` or ``120``; ``?`` when unknown."""
    if shape is None:
        return "?"
    return "×".join(str(d) for d in shape)


def describe_shape(shape: Shape) -> str:
    """Return ``shape`` in words for error messages: ``a 64×56×56 map`` or ``120 features``."""
    if is_image(shape):
        return f"a {format_shape(shape)} (C×H×W) map"
    return f"{shape[0]} features" if len(shape) == 1 else f"a {format_shape(shape)} tensor"


def num_elements(shape: Shape) -> int:
    """Return the number of scalars in one sample of ``shape``."""
    return math.prod(shape)
