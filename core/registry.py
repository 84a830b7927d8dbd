"""The layer registry: layer type name -> layer class.

Registering a class is the one place where a layer type is added; the palette, the
inspector, analysis, the engine and the ONNX converters find it here. This module sits
below the layer classes and imports none of them: import :mod:`core.layers` (which
re-exports these functions) to have the built-in types registered.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from core.errors import LayerwiseError

if TYPE_CHECKING:
    from core.layers.base import Layer

CATEGORIES: tuple[str, ...] = (
    "Input",
    "Convolution",
    "Pooling",
    "Resampling",
    "Normalization",
    "Activation",
    "Regularization",
    "Merge",
    "Dense",
)
"""Palette groups, in the order they are shown."""

_REGISTRY: dict[str, type[Layer]] = {}


class UnknownLayerTypeError(LayerwiseError, KeyError):
    """A layer type name that no registered class carries."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


def register(cls: type[Layer]) -> type[Layer]:
    """Class decorator that adds a layer class under its ``type_name``.

    Raises
    ------
    ValueError
        If the name is taken or the class declares an unknown category: both are
        programming errors, caught by the registry test.
    """
    name = cls.type_name
    if name in _REGISTRY:
        raise ValueError(f"layer type {name!r} is registered twice ({_REGISTRY[name]!r} and {cls!r})")
    if cls.category not in CATEGORIES:
        raise ValueError(f"layer type {name!r} has unknown category {cls.category!r}; use one of {CATEGORIES}")
    _REGISTRY[name] = cls
    return cls


def unregister(type_name: str) -> None:
    """Remove the class registered as ``type_name`` (for layer types a test defines).

    Raises
    ------
    UnknownLayerTypeError
        When no class carries that name.
    """
    if type_name not in _REGISTRY:
        raise UnknownLayerTypeError(f"unknown layer type {type_name!r}; nothing to unregister")
    del _REGISTRY[type_name]


def layer_types() -> list[type[Layer]]:
    """Return every registered layer class, in registration order."""
    return list(_REGISTRY.values())


def layer_class(type_name: str) -> type[Layer]:
    """Return the class registered as ``type_name``.

    Raises
    ------
    UnknownLayerTypeError
        Naming the closest known type when there is one.
    """
    try:
        return _REGISTRY[type_name]
    except (KeyError, TypeError):
        close = difflib.get_close_matches(str(type_name), _REGISTRY, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else f"; known types: {', '.join(_REGISTRY)}"
        raise UnknownLayerTypeError(f"unknown layer type {type_name!r}{hint}") from None


def create_layer(type_name: str, params: Mapping[str, Any] | None = None) -> Layer:
    """Return a layer of type ``type_name`` with ``params`` (missing ones take their defaults)."""
    return layer_class(type_name).from_config(params or {})
