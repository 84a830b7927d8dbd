"""What a layer sees of the PyTorch exporter while it writes its own module.

Layers sit below the exporter (:mod:`core.torch_export`), so they speak to it through
this protocol: the exporter implements it, layers only call it. Nothing here imports
torch; a layer describes its module as Python source and its state as NumPy arrays.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from core.errors import LayerwiseError


class TorchExportError(LayerwiseError):
    """The network cannot be written as a PyTorch project."""


@dataclass(frozen=True)
class TorchModule:
    """How one layer is written in PyTorch.

    Attributes
    ----------
    constructor
        A Python expression that builds the ``nn.Module`` (``nn.Conv2d(3, 16, kernel_size=(3, 3))``),
        made by :meth:`TorchWriter.call` from numbers, tuples, booleans and choice strings only.
    state
        The module's ``state_dict`` entries, keyed relative to it (``weight``, ``running_mean``),
        in PyTorch's layouts.
    """

    constructor: str
    state: Mapping[str, np.ndarray] = field(default_factory=dict)


class TorchWriter(Protocol):
    """The project being written, as :meth:`core.layers.base.Layer.export_torch` uses it."""

    def helper(self, name: str) -> str:
        """Include the helper module class ``name`` (from :mod:`core.layers.torch_helpers`); return how code names it."""
        ...

    def call(self, callee: str, *args: object, **kwargs: object) -> str:
        """``callee(args…, key=value…)`` as source, every value written as a Python literal (``repr``)."""
        ...
