"""What a layer sees of the ONNX exporter while it writes its own nodes.

Layers sit below the exporter (:mod:`core.onnx_io.export`), so they speak to it
through this protocol: the exporter implements it, layers only call it.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np

from core.errors import LayerwiseError


class OnnxExportError(LayerwiseError):
    """The network cannot be written as ONNX (e.g. a feature the chosen opset lacks)."""


class OnnxWriter(Protocol):
    """The graph being written, as :meth:`core.layers.base.Layer.export_onnx` uses it.

    Attributes
    ----------
    opset
        The target opset; layers choose their encoding from it.
    """

    opset: int

    def constant(self, name: str, value: np.ndarray) -> str:
        """Add an initialiser (float32, or int64 for integer arrays); return its tensor name."""
        ...

    def node(self, op_type: str, inputs: list[str], name: str, **attributes: Any) -> str:
        """Add one node with a single output named after it; return the output's name."""
        ...

    def node_with_outputs(self, op_type: str, inputs: list[str], name: str, count: int, **attributes: Any) -> list[str]:
        """Add one node with ``count`` outputs (``Split``); return their names, in order."""
        ...

    def pad(self, source: str, pads: list[int], name: str) -> str:
        """Zero-pad the H and W axes of an N×C×H×W tensor by ``[top, left, bottom, right]``."""
        ...

    def name_after_layer(self, tensor: str) -> None:
        """Give the layer's name to the node computing ``tensor``, not to the one computing the output.

        For a layer whose own op sits between helper nodes — a per-pixel Softmax or a
        LayerNorm over channels between the Transposes to channels-last and back — so
        that the node named as the layer is the one an import names the layer after.
        """
        ...
