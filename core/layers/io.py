"""The network's entry point."""

from __future__ import annotations

from collections.abc import Sequence

from core.layers.base import Layer
from core.ops.basic import InputOp
from core.ops.op import Op
from core.params import ShapeParam
from core.registry import register
from core.shapes import Shape, format_shape


@register
class Input(Layer):
    """Where samples enter: a C×H×W image or a vector of features (no batch axis)."""

    type_name = "Input"
    category = "Input"
    is_network_input = True
    summary = "Where samples enter the network: a C×H×W image or a vector of features."
    param_specs = (ShapeParam("shape", (1, 28, 28), "Sample shape without the batch: [C, H, W] or [features]."),)
    min_inputs = 0
    max_inputs = 0

    def describe(self) -> str:
        return format_shape(self.params["shape"])

    def output_shape(self, input_shapes: Sequence[Shape]) -> Shape:
        return self.params["shape"]

    def build(self, input_shapes: Sequence[Shape]) -> Op:
        return InputOp()
