"""Fully connected layers and the reshape that feeds them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from core.errors import ShapeError
from core.layers.base import Layer, ParamCount
from core.layers.convolution import Conv2D
from core.layers.onnx_reader import (
    Attributes,
    OnnxNode,
    OnnxReader,
    UnsupportedNode,
    onnx_channels_last_converter,
    onnx_converter,
    read_float,
    read_int,
    reshape_target,
    squeeze_axes,
)
from core.layers.onnx_writer import OnnxWriter
from core.layers.torch_writer import TorchModule, TorchWriter
from core.ops.basic import DenseOp, FlattenOp
from core.ops.op import Op
from core.params import BoolParam, IntParam
from core.registry import register
from core.shapes import Shape, describe_shape, format_shape, num_elements


@register
class Flatten(Layer):
    """Unrolls a C×H×W map into C·H·W features (row-major, channel first)."""

    type_name = "Flatten"
    onnx_op = "Flatten"
    torch_module = "nn.Flatten"
    category = "Dense"
    keeps_class_scores = True  # of a C×1×1 map; a wider map's count changes, which the search sees
    summary = "Unrolls a C×H×W map into one vector of C·H·W features, so Dense layers can follow."

    def output_shape(self, input_shapes: Sequence[Shape]) -> Shape:
        return (num_elements(input_shapes[0]),)

    def build(self, input_shapes: Sequence[Shape]) -> Op:
        return FlattenOp()

    def onnx_attributes(self) -> dict[str, Any]:
        return {"axis": 1}

    @classmethod
    def params_from_onnx(cls, attrs: Attributes) -> dict[str, Any]:
        if read_int(attrs, "axis", 1) != 1:
            raise UnsupportedNode("only axis=1 (keep the batch) is supported")
        return {}

    def spatial_geometry(self, input_shapes: Sequence[Shape]) -> None:
        return None


@register
class Dense(Layer):
    """``y = W x + b`` on a feature vector: every output sees every input."""

    type_name = "Dense"
    category = "Dense"
    computes_weighted_sums = True
    class_scores_param = "units"
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

    def export_torch(self, torch_export: TorchWriter, input_shapes: list[Shape], op: Op) -> TorchModule:
        # The weights are (units, features), as nn.Linear keeps them.
        bias = self.params["bias"]
        arguments = {} if bias else {"bias": False}
        constructor = torch_export.call("nn.Linear", input_shapes[0][0], self.params["units"], **arguments)
        state = {"weight": op.params["weight"], **({"bias": op.params["bias"]} if bias else {})}
        return TorchModule(constructor, state)

    def export_onnx(
        self, onnx_export: OnnxWriter, name: str, inputs: list[str], input_shapes: list[Shape], op: Op
    ) -> str:
        weight = onnx_export.constant(f"{name}.weight", op.params["weight"])
        # Gemm's bias became optional in opset 11; before, zeros stand in.
        bias = op.params["bias"] if self.params["bias"] else np.zeros(self.params["units"], np.float32)
        extra = [onnx_export.constant(f"{name}.bias", bias)] if self.params["bias"] or onnx_export.opset < 11 else []
        return onnx_export.node("Gemm", [inputs[0], weight, *extra], name, transB=1)

    def onnx_round_trip(self, input_shapes: Sequence[Shape], opset: int) -> Layer:
        return self.with_params(bias=True) if opset < 11 else self  # the zeros read back as a bias

    def param_count(self, input_shapes: Sequence[Shape]) -> ParamCount:
        features = input_shapes[0][0]
        units = self.params["units"]
        return ParamCount(trainable=features * units + (units if self.params["bias"] else 0))

    def macs(self, input_shapes: Sequence[Shape], output_shape: Shape) -> int:
        return input_shapes[0][0] * self.params["units"]

    def spatial_geometry(self, input_shapes: Sequence[Shape]) -> None:
        return None


# -- ONNX import ----------------------------------------------------------------------------
# Flatten is read by the default converter of Flatten's `onnx_op`.


@onnx_converter("Gemm", min_inputs=2)
def _import_gemm(reader: OnnxReader, node: OnnxNode, attrs: Attributes) -> None:
    """Gemm with a constant B (and C) → Dense, ``alpha`` and ``beta`` folded into the weights."""
    if read_int(attrs, "transA", 0):
        raise UnsupportedNode("transA=1 is not supported")
    matrix = reader.require_constant(node.input[1], "B matrix")
    if matrix.ndim != 2:
        raise UnsupportedNode(f"its B matrix has {matrix.ndim} dimensions, not 2")
    alpha, beta = read_float(attrs, "alpha", 1.0), read_float(attrs, "beta", 1.0)
    # Non-finite products are refused with the weights (they must be finite); no warning on the way.
    with np.errstate(over="ignore", invalid="ignore"):
        weight = (matrix if read_int(attrs, "transB", 0) else matrix.T) * alpha
    bias = reader.constant(node.input[2]) if len(node.input) > 2 else None
    if bias is not None:
        with np.errstate(over="ignore", invalid="ignore"):
            bias = np.asarray(bias, np.float32).reshape(-1) * beta
        if bias.size not in (1, weight.shape[0]):
            raise UnsupportedNode(f"a bias of {bias.size} values for {weight.shape[0]} outputs")
        bias = np.broadcast_to(bias, (weight.shape[0],)).copy()
    params = {"units": int(weight.shape[0]), "bias": bias is not None}
    reader.add_layer(node, Dense.type_name, params, [node.input[0]], {"weight": weight, "bias": bias})


@onnx_converter("MatMul", min_inputs=2)
def _import_matmul(reader: OnnxReader, node: OnnxNode, attrs: Attributes) -> None:
    """MatMul by a constant matrix → Dense without bias (an Add after it becomes the bias)."""
    matrix = reader.require_constant(node.input[1], "second operand")
    if matrix.ndim != 2:
        raise UnsupportedNode("only a 2-D constant right operand maps to Dense")
    params = {"units": int(matrix.shape[1]), "bias": False}
    reader.add_layer(node, Dense.type_name, params, [node.input[0]], {"weight": matrix.T})


@onnx_channels_last_converter("MatMul", min_inputs=2)
def _import_channels_last_linear(reader: OnnxReader, node: OnnxNode, attrs: Attributes) -> None:
    """MatMul of a channels-last map by a constant C×F matrix → a 1×1 Conv2D without bias.

    A Linear layer applied to the channels of each pixel of an N×H×W×C map, as ConvNeXt
    and other channels-last blocks write them; an Add of one value per channel after it
    becomes its bias (the Add's import).
    """
    source = node.input[0]
    matrix = reader.require_constant(node.input[1], "matrix (its second input)")
    if not reader.is_channels_last(source):
        raise UnsupportedNode("only a channels-last map times a constant matrix is a layer")
    channels = reader.shape(source)[0]
    if matrix.ndim != 2 or matrix.shape[0] != channels:
        raise UnsupportedNode(
            f"a channels-last map of {channels} channels times a {format_shape(matrix.shape)} matrix has no layer; "
            f"a pointwise convolution multiplies by a {channels}×F matrix"
        )
    filters = matrix.shape[1]
    params = {"filters": int(filters), "kernel_size": 1, "bias": False}
    weights = {"weight": np.asarray(matrix, np.float32).T.reshape(filters, channels, 1, 1)}
    reader.add_layer(node, Conv2D.type_name, params, [source], weights, reads_views=True)


def _flatten_or_alias(reader: OnnxReader, node: OnnxNode) -> None:
    """``node`` makes its computed input a feature vector: a Flatten, or nothing when it is one."""
    if len(reader.shape(node.input[0])) == 1:
        reader.alias(node.output[0], node.input[0])
    else:
        reader.add_layer(node, Flatten.type_name, {}, [node.input[0]])


@onnx_converter("Reshape", min_inputs=2)
def _import_reshape(reader: OnnxReader, node: OnnxNode, attrs: Attributes) -> None:
    """Reshape to N×features → Flatten."""
    target = reshape_target(reader, node, attrs)
    if len(target) != 2 or target[0] != 1:
        shown = [int(d) for d in reader.require_constant(node.input[1], "target shape")]
        raise UnsupportedNode(f"reshape of a {format_shape(reader.shape(node.input[0]))} tensor to {shown}")
    _flatten_or_alias(reader, node)


@onnx_converter("Squeeze")
def _import_squeeze(reader: OnnxReader, node: OnnxNode, attrs: Attributes) -> None:
    """Squeeze of the 1×1 map of an N×C×1×1 tensor → Flatten."""
    shape = reader.shape(node.input[0])
    if len(shape) != 3 or shape[1:] != (1, 1) or squeeze_axes(reader, node, attrs) not in (None, [2, 3]):
        raise UnsupportedNode(f"squeezing a {format_shape(shape)} tensor")
    _flatten_or_alias(reader, node)
