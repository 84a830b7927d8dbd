"""Activation functions: elementwise non-linearities (and Softmax)."""

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
    onnx_pattern,
    read_int,
)
from core.layers.onnx_writer import OnnxWriter
from core.ops.basic import ELUOp, LeakyReLUOp, ReLUOp, SigmoidOp, SoftmaxOp, TanhOp
from core.ops.op import Op
from core.params import FloatParam
from core.registry import register
from core.shapes import Shape, format_shape


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
    param_specs = (FloatParam("alpha", 0.01, "Slope for negative inputs.", minimum=0.0, maximum=1.0),)

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
    param_specs = (FloatParam("alpha", 1.0, "Value approached for very negative inputs (as −alpha).", minimum=0.0),)

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

    def export_onnx(
        self, onnx_export: OnnxWriter, name: str, inputs: list[str], input_shapes: list[Shape], op: Op
    ) -> str:
        if onnx_export.opset >= 13 or len(input_shapes[0]) == 1:
            return onnx_export.node("Softmax", inputs, name, axis=1)
        # Before opset 13 Softmax flattens every axis after `axis`; a per-pixel softmax
        # over channels goes through channels-last instead.
        last = onnx_export.node("Transpose", inputs, f"{name}_nhwc", perm=[0, 2, 3, 1])
        normalised = onnx_export.node("Softmax", [last], f"{name}_softmax", axis=3)
        return onnx_export.node("Transpose", [normalised], name, perm=[0, 3, 1, 2])


# -- ONNX import ----------------------------------------------------------------------------
# Relu, LeakyRelu, Sigmoid, Tanh and Elu are read by the default converters of their
# layers' `onnx_op`.


@onnx_converter("Softmax")
def _import_softmax(reader: OnnxReader, node: OnnxNode, attrs: Attributes) -> None:
    """Softmax over the features, or over the channels of each pixel → Softmax."""
    shape = reader.shape(node.input[0])
    rank = len(shape) + 1
    axis = read_int(attrs, "axis", 1 if reader.opset < 13 else -1) % rank
    # Before opset 13, Softmax normalises over every axis from `axis` on.
    covers_all = reader.opset < 13 and axis == 1
    per_feature = rank == 2 and axis == 1
    per_pixel = rank == 4 and axis == 1 and (reader.opset >= 13 or shape[1:] == (1, 1))
    if not (per_feature or per_pixel or (covers_all and rank == 2)):
        raise UnsupportedNode(
            f"softmax over axis {axis} of a {format_shape(shape)} tensor (opset {reader.opset}) has no layer"
        )
    reader.add_layer(node, Softmax.type_name, {}, [node.input[0]])


@onnx_pattern("channels-last softmax", anchor="Transpose")
def _import_channels_last_softmax(reader: OnnxReader, node: OnnxNode, attrs: Attributes) -> list[OnnxNode] | None:
    """Transpose(0, 2, 3, 1) → Softmax over the last axis → Transpose(0, 3, 1, 2): Softmax per pixel.

    What the export writes before opset 13, whose Softmax cannot pick the channel axis alone.
    """
    softmax = reader.producer_node(node.input[0])
    if attrs.get("perm") != [0, 3, 1, 2] or softmax is None or softmax.op_type != "Softmax":
        return None
    last = reader.producer_node(softmax.input[0])
    if last is None or last.op_type != "Transpose" or reader.attributes(last).get("perm") != [0, 2, 3, 1]:
        return None
    source = last.input[0]
    if reader.uses(node.input[0]) != 1 or reader.uses(softmax.input[0]) != 1 or not reader.is_computed(source):
        return None
    axis = reader.attributes(softmax).get("axis", 1 if reader.opset < 13 else -1)
    if len(reader.shape(source)) != 3 or axis not in (3, -1):
        return None
    reader.add_layer(node, Softmax.type_name, {}, [source])
    return [softmax, last]
