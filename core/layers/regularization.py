"""Regularisation layers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from core.layers.base import Layer
from core.layers.onnx_reader import (
    Attributes,
    OnnxNode,
    OnnxReader,
    UnsupportedNode,
    onnx_converter,
    read_float,
    shortest_float,
)
from core.layers.onnx_writer import OnnxWriter
from core.ops.basic import DropoutOp
from core.ops.op import Op
from core.params import FloatParam
from core.registry import register
from core.shapes import Shape


@register
class Dropout(Layer):
    """Zeroes each unit with probability ``rate`` during training (inverted scaling).

    Survivors are scaled by ``1 / (1 − rate)`` so inference, which drops nothing,
    needs no rescaling; the exported model has no dropout at all.
    """

    type_name = "Dropout"
    torch_module = "nn.Dropout"
    category = "Regularization"
    passes_values_through = True
    acts_pointwise = True
    summary = "During training, zeroes a random fraction of units anew each step; does nothing at inference."
    param_specs = (
        FloatParam("rate", 0.5, "Probability of dropping each unit.", minimum=0.0, maximum=1.0, max_inclusive=False),
    )

    def describe(self) -> str:
        return f"rate {self.params['rate']:g}"

    def build(self, input_shapes: Sequence[Shape]) -> Op:
        return DropoutOp(self.params["rate"])

    def torch_arguments(self, input_shapes: list[Shape]) -> dict[str, Any]:
        return {"p": self.params["rate"]}  # inverted dropout, survivors scaled by 1 / (1 − p), as here

    def export_onnx(
        self, onnx_export: OnnxWriter, name: str, inputs: list[str], input_shapes: list[Shape], op: Op
    ) -> str:
        return inputs[0]  # inference has no dropout

    def onnx_round_trip(self, input_shapes: Sequence[Shape], opset: int) -> None:
        return None


# -- ONNX import ----------------------------------------------------------------------------


@onnx_converter("Dropout")
def _import_dropout(reader: OnnxReader, node: OnnxNode, attrs: Attributes) -> None:
    """Dropout (a no-op at inference, kept for training) → Dropout with its rate."""
    rate = read_float(attrs, "ratio", 0.5)
    if reader.opset >= 12 and len(node.input) > 1 and node.input[1]:  # the ratio became an input
        ratio = reader.require_constant(node.input[1], "ratio")
        if ratio.size != 1 or ratio.dtype.kind not in "biuf":
            raise UnsupportedNode(f"its ratio must be one number, got {ratio.size} values")
        rate = shortest_float(float(ratio.reshape(-1)[0]))
    reader.add_layer(node, Dropout.type_name, {"rate": min(rate, 0.999)}, [node.input[0]])
