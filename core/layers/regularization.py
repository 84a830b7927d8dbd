"""Regularisation layers."""

from __future__ import annotations

from collections.abc import Sequence

from core.layers.base import Layer
from core.params import FloatParam
from core.registry import register
from core.shapes import Shape
from core.layers.onnx_writer import OnnxWriter
from core.ops.basic import DropoutOp
from core.ops.op import Op



@register
class Dropout(Layer):
    """Zeroes each unit with probability ``rate`` during training (inverted scaling).

    Survivors are scaled by ``1 / (1 − rate)`` so inference, which drops nothing,
    needs no rescaling; the exported model has no dropout at all.
    """

    type_name = "Dropout"
    category = "Regularization"
    passes_values_through = True
    summary = "During training, zeroes a random fraction of units anew each step; does nothing at inference."
    param_specs = (
        FloatParam("rate", 0.5, "Probability of dropping each unit.", minimum=0.0, maximum=1.0, max_inclusive=False),
    )

    def describe(self) -> str:
        return f"rate {self.params['rate']:g}"

    def build(self, input_shapes: Sequence[Shape]) -> Op:
        return DropoutOp(self.params["rate"])

    def export_onnx(self, onnx_export: OnnxWriter, name: str, inputs: list[str], input_shapes: list[Shape], op: Op) -> str:
        return inputs[0]  # inference has no dropout
