"""Built-in layer types. Importing this package registers them all, in palette order.

The registry's look-ups are re-exported here, so that ``from core.layers import
layer_class`` always sees every built-in type.
"""

# isort: skip_file
# (The order of registration is the palette's order within a group.)
from core.layers import (  # noqa: F401  (imported for registration)
    io,
    convolution,
    pooling,
    resampling,
    normalization,
    activations,
    regularization,
    merge,
    dense,
)
from core.registry import CATEGORIES, UnknownLayerTypeError, create_layer, layer_class, layer_types, register

__all__ = ["CATEGORIES", "UnknownLayerTypeError", "create_layer", "layer_class", "layer_types", "register"]
