"""Activation functions: elementwise non-linearities (and Softmax)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from core.layers.base import Layer
from core.params import FloatParam
from core.registry import register
from core.shapes import Shape
from core.layers.onnx_writer import OnnxWriter
from core.ops.basic import ELUOp, LeakyReLUOp, ReLUOp, SigmoidOp, SoftmaxOp, TanhOp
from core.ops.op import Op



@register
class ReLU(Layer):
    """``max(0, x)``."""

    type_name = "ReLU"
    onnx_op = "Relu"
    category = "Activation"
    is_activation_function = True
    he_init_before = True
    summary = "max(0, x): passes positive values, zeroes negative ones."

    def build(self, input_shapes: Sequence[Shape]) -> Op:
        return ReLUOp()


class _AlphaActivation(Layer):
    """An activation with one ``alpha`` parameter, written to ONNX as the attribute of that name."""

    def describe(self) -> str:
        return f"α {self.params['alpha']:g}"

    def onnx_attributes(self) -> dict[str, Any]:
        return {"alpha": self.params["alpha"]}


@register
class LeakyReLU(_AlphaActivation):
    """``x`` for ``x > 0``, ``alpha · x`` otherwise."""

    type_name = "LeakyReLU"
    name_stem = "leaky_relu"
    onnx_op = "LeakyRelu"
    category = "Activation"
    is_activation_function = True
    he_init_before = True
    summary = "Like ReLU, but lets a small slope alpha·x through for negative x."
    param_specs = (
        FloatParam("alpha", 0.01, "Slope for negative inputs.", minimum=0.0, maximum=1.0),
    )

    def build(self, input_shapes: Sequence[Shape]) -> Op:
        return LeakyReLUOp(self.params["alpha"])


@register
class Sigmoid(Layer):
    """``1 / (1 + e^−x)``."""

    type_name = "Sigmoid"
    onnx_op = "Sigmoid"
    category = "Activation"
    is_activation_function = True
    summary = "1 / (1 + e^−x): squashes any value into (0, 1); saturates for large |x|."

    def build(self, input_shapes: Sequence[Shape]) -> Op:
        return SigmoidOp()


@register
class Tanh(Layer):
    """``tanh(x)``."""

    type_name = "Tanh"
    onnx_op = "Tanh"
    category = "Activation"
    is_activation_function = True
    summary = "tanh(x): squashes any value into (−1, 1), centred on zero."

    def build(self, input_shapes: Sequence[Shape]) -> Op:
        return TanhOp()


@register
class ELU(_AlphaActivation):
    """``x`` for ``x > 0``, ``alpha · (e^x − 1)`` otherwise."""

    type_name = "ELU"
    onnx_op = "Elu"
    category = "Activation"
    is_activation_function = True
    he_init_before = True
    summary = "x for x > 0, alpha·(e^x − 1) below: smooth, with negative outputs near −alpha."
    param_specs = (
        FloatParam("alpha", 1.0, "Value approached for very negative inputs (as −alpha).", minimum=0.0),
    )

    def build(self, input_shapes: Sequence[Shape]) -> Op:
        return ELUOp(self.params["alpha"])


@register
class Softmax(Layer):
    """Exponentiates and normalises over the features (or channels, per pixel) to sum to one."""

    type_name = "Softmax"
    category = "Activation"
    summary = "Turns scores into probabilities that sum to one (over features, or channels per pixel)."

    def build(self, input_shapes: Sequence[Shape]) -> Op:
        return SoftmaxOp()

    def export_onnx(self, onnx_export: OnnxWriter, name: str, inputs: list[str], input_shapes: list[Shape], op: Op) -> str:
        if onnx_export.opset >= 13 or len(input_shapes[0]) == 1:
            return onnx_export.node("Softmax", inputs, name, axis=1)
        # Before opset 13 Softmax flattens every axis after `axis`; a per-pixel softmax
        # over channels goes through channels-last instead.
        last = onnx_export.node("Transpose", inputs, f"{name}_nhwc", perm=[0, 2, 3, 1])
        normalised = onnx_export.node("Softmax", [last], f"{name}_softmax", axis=3)
        return onnx_export.node("Transpose", [normalised], name, perm=[0, 3, 1, 2])
