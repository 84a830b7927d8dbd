"""Fully connected layers and the reshape that feeds them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from core.errors import ShapeError
from core.layers.base import Layer, ParamCount
from core.params import BoolParam, IntParam
from core.registry import register
from core.shapes import Shape, describe_shape, num_elements
from core.layers.onnx_writer import OnnxWriter
from core.ops.basic import DenseOp, FlattenOp
from core.ops.op import Op



@register
class Flatten(Layer):
    """Unrolls a C×H×W map into C·H·W features (row-major, channel first)."""

    type_name = "Flatten"
    onnx_op = "Flatten"
    category = "Dense"
    summary = "Unrolls a C×H×W map into one vector of C·H·W features, so Dense layers can follow."

    def output_shape(self, input_shapes: Sequence[Shape]) -> Shape:
        return (num_elements(input_shapes[0]),)

    def build(self, input_shapes: Sequence[Shape]) -> Op:
        return FlattenOp()

    def onnx_attributes(self) -> dict[str, Any]:
        return {"axis": 1}

    def spatial_geometry(self, input_shapes: Sequence[Shape]) -> None:
        return None


@register
class Dense(Layer):
    """``y = W x + b`` on a feature vector: every output sees every input."""

    type_name = "Dense"
    category = "Dense"
    computes_weighted_sums = True
    summary = "Fully connected: every output unit is a weighted sum of all input features."
    param_specs = (
        IntParam("units", 10, "Number of output features.", minimum=1, maximum=1 << 20),
        BoolParam("bias", True, "Add a learned offset per output unit."),
    )

    def describe(self) -> str:
        return f"{self.params['units']} units" + ("" if self.params["bias"] else ", no bias")

    def output_shape(self, input_shapes: Sequence[Shape]) -> Shape:
        shape = input_shapes[0]
        if len(shape) != 1:
            hint = (
                " — a Dense layer on a 1×1 map is a 1×1 Conv2D; add Flatten or use Conv2D with kernel 1"
                if len(shape) == 3 and shape[1:] == (1, 1)
                else " — add a Flatten (or GlobalAvgPool2D) before it"
            )
            raise ShapeError(f"Dense needs a feature vector, but gets {describe_shape(shape)}{hint}")
        return (self.params["units"],)

    def build(self, input_shapes: Sequence[Shape]) -> Op:
        return DenseOp(input_shapes[0][0], self.params["units"], self.params["bias"])

    def export_onnx(self, onnx_export: OnnxWriter, name: str, inputs: list[str], input_shapes: list[Shape], op: Op) -> str:
        weight = onnx_export.constant(f"{name}.weight", op.params["weight"])
        # Gemm's bias became optional in opset 11; before, zeros stand in.
        bias = op.params["bias"] if self.params["bias"] else np.zeros(self.params["units"], np.float32)
        extra = [onnx_export.constant(f"{name}.bias", bias)] if self.params["bias"] or onnx_export.opset < 11 else []
        return onnx_export.node("Gemm", [inputs[0], weight, *extra], name, transB=1)

    def param_count(self, input_shapes: Sequence[Shape]) -> ParamCount:
        features = input_shapes[0][0]
        units = self.params["units"]
        return ParamCount(trainable=features * units + (units if self.params["bias"] else 0))

    def macs(self, input_shapes: Sequence[Shape], output_shape: Shape) -> int:
        return input_shapes[0][0] * self.params["units"]

    def spatial_geometry(self, input_shapes: Sequence[Shape]) -> None:
        return None
