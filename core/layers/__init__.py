"""Built-in layer types. Importing this package registers them all, in palette order."""

from core.layers import (  # noqa: F401  (imported for registration)
    io,
    convolution,
    pooling,
    normalization,
    activations,
    regularization,
    merge,
    dense,
)
