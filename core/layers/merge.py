"""Layers that merge several branches into one tensor."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from core.errors import ShapeError
from core.layers.base import Layer
from core.layers.onnx_reader import (
    Attributes,
    OnnxNode,
    OnnxReader,
    UnsupportedNode,
    onnx_channels_last_converter,
    onnx_converter,
    onnx_pattern,
    read_int,
    read_ints,
    reshape_target,
)
from core.layers.onnx_writer import OnnxWriter
from core.layers.torch_writer import TorchModule, TorchWriter
from core.ops.basic import AddOp, ConcatOp
from core.ops.normalization import MultiplyOp
from core.ops.op import Op
from core.registry import register
from core.shapes import Shape, describe_shape, format_shape, is_image, num_elements


@register
class Add(Layer):
    """Elementwise sum of any number of equally shaped inputs (residual connections)."""

    type_name = "Add"
    onnx_op = "Sum"
    category = "Merge"
    acts_pointwise = True
    summary = "Adds its inputs element by element; all must have the same shape (residual connections)."
    min_inputs = 2
    max_inputs = None

    def output_shape(self, input_shapes: Sequence[Shape]) -> Shape:
        first = input_shapes[0]
        for index, shape in enumerate(input_shapes[1:], start=2):
            if shape != first:
                raise ShapeError(
                    f"Add needs inputs of equal shape, but input 1 is {format_shape(first)} "
                    f"and input {index} is {format_shape(shape)}"
                )
        return first

    def build(self, input_shapes: Sequence[Shape]) -> Op:
        return AddOp(len(input_shapes))

    def export_torch(self, torch_export: TorchWriter, input_shapes: list[Shape], op: Op) -> TorchModule:
        return TorchModule(torch_export.call(torch_export.helper("Add")))


@register
class Concat(Layer):
    """Stacks inputs along the channel (or feature) axis; spatial sizes must agree."""

    type_name = "Concat"
    onnx_op = "Concat"
    category = "Merge"
    summary = "Stacks its inputs along the channel axis; their H×W must agree (Inception branches)."
    min_inputs = 2
    max_inputs = None

    def output_shape(self, input_shapes: Sequence[Shape]) -> Shape:
        first = input_shapes[0]
        for index, shape in enumerate(input_shapes[1:], start=2):
            if is_image(first) != is_image(shape) or (is_image(first) and shape[1:] != first[1:]):
                raise ShapeError(
                    f"Concat needs inputs of equal spatial size (H×W), but input 1 is "
                    f"{format_shape(first)} and input {index} is {format_shape(shape)}"
                )
        return (sum(shape[0] for shape in input_shapes), *tuple(first[1:]))

    def build(self, input_shapes: Sequence[Shape]) -> Op:
        return ConcatOp([shape[0] for shape in input_shapes], is_image(input_shapes[0]))

    def export_torch(self, torch_export: TorchWriter, input_shapes: list[Shape], op: Op) -> TorchModule:
        return TorchModule(torch_export.call(torch_export.helper("Concat")))

    def onnx_attributes(self) -> dict[str, Any]:
        return {"axis": 1}


@register
class Multiply(Layer):
    """Elementwise product of two inputs: equal shapes, or a map times a per-channel gate.

    Input 1 is the map; input 2 has its shape, or is a gate with one value per channel —
    a C×1×1 map or C features — that scales every position of that channel
    (squeeze-and-excitation, attention gates): ``y[c, i, j] = x[c, i, j] · g[c]``.
    """

    type_name = "Multiply"
    category = "Merge"
    acts_pointwise = True
    summary = "Multiplies its two inputs element by element, or scales each channel of a map by a gate (squeeze-and-excitation)."
    min_inputs = 2
    max_inputs = 2

    def output_shape(self, input_shapes: Sequence[Shape]) -> Shape:
        first, second = input_shapes
        if second == first or _gates(first, second):
            return first
        if _gates(second, first):
            raise ShapeError(
                f"Multiply takes the map as input 1 and the per-channel gate as input 2, but input 1 is "
                f"{describe_shape(first)} and input 2 is {describe_shape(second)}; swap the inputs"
            )
        if is_image(first) and (second[1:] == (1, 1) or len(second) == 1):
            raise ShapeError(
                f"Multiply's gate has {second[0]} channels but the map {format_shape(first)} has {first[0]}; "
                f"make the layer computing the gate give {first[0]}"
            )
        raise ShapeError(
            f"Multiply needs inputs of equal shape, or a C×H×W map and a gate of C×1×1 or C features, "
            f"but input 1 is {describe_shape(first)} and input 2 is {describe_shape(second)}"
        )

    def build(self, input_shapes: Sequence[Shape]) -> Op:
        first, second = input_shapes
        return MultiplyOp(vector_gate=is_image(first) and len(second) == 1)

    def macs(self, input_shapes: Sequence[Shape], output_shape: Shape) -> int:
        return num_elements(output_shape)

    def export_torch(self, torch_export: TorchWriter, input_shapes: list[Shape], op: Op) -> TorchModule:
        return TorchModule(torch_export.call(torch_export.helper("Multiply")))

    def export_onnx(
        self, onnx_export: OnnxWriter, name: str, inputs: list[str], input_shapes: list[Shape], op: Op
    ) -> str:
        first, second = input_shapes
        gate = inputs[1]
        if is_image(first) and len(second) == 1:  # N×C broadcasts over H and W as N×C×1×1
            shape = onnx_export.constant(f"{name}.gate_shape", np.array([-1, second[0], 1, 1]))
            gate = onnx_export.node("Reshape", [gate, shape], f"{name}_gate")
        return onnx_export.node("Mul", [inputs[0], gate], name)


def _gates(first: Shape, second: Shape) -> bool:
    """Whether ``second`` is a per-channel gate of the map ``first``: C×1×1, or C features."""
    return is_image(first) and second in ((first[0], 1, 1), (first[0],))


# -- ONNX import ----------------------------------------------------------------------------


def _merge(reader: OnnxReader, node: OnnxNode, type_name: str, inputs: list[str], *, reads_views: bool = False) -> None:
    """A merge layer of ``inputs``; of one input, that input itself (no layer)."""
    if len(inputs) == 1:
        reader.alias(node.output[0], inputs[0])
    else:
        reader.add_layer(node, type_name, {}, inputs, reads_views=reads_views)


@onnx_pattern("sum of two computed tensors", anchor="Add")
def _import_residual_add(reader: OnnxReader, node: OnnxNode, attrs: Attributes) -> list[OnnxNode] | None:
    """Add of two computed tensors (a residual connection) → Add; with a constant, it is no merge."""
    operands = list(node.input[:2])
    if not all(reader.is_computed(name) for name in operands):
        return None
    if reader.shape(operands[0]) != reader.shape(operands[1]):
        raise UnsupportedNode("broadcasting between computed tensors is not supported")
    reader.add_layer(node, Add.type_name, {}, operands)
    return []


@onnx_converter("Sum")
def _import_sum(reader: OnnxReader, node: OnnxNode, attrs: Attributes) -> None:
    """Sum of computed tensors → Add (of one tensor: that tensor)."""
    inputs = [name for name in node.input if name]
    if not all(reader.is_computed(name) for name in inputs):
        raise UnsupportedNode("constant operands are not supported")
    _merge(reader, node, Add.type_name, inputs)


@onnx_converter("Concat")
def _import_concat(reader: OnnxReader, node: OnnxNode, attrs: Attributes) -> None:
    """Concat of computed tensors along the channels (or features) → Concat (of one tensor: that tensor)."""
    inputs = [name for name in node.input if name]
    computed = all(reader.is_computed(name) for name in inputs)
    rank = len(reader.shape(inputs[0])) + 1 if computed else 1
    if not computed or read_int(attrs, "axis", 1) % rank != 1:
        raise UnsupportedNode("only concatenation of computed tensors along channels is supported")
    _merge(reader, node, Concat.type_name, inputs)


@onnx_channels_last_converter("Concat")
def _import_concat_of_views(reader: OnnxReader, node: OnnxNode, attrs: Attributes) -> None:
    """Concat of channels-last views along their last axis → Concat of the maps, along the channels."""
    inputs = [name for name in node.input if name]
    if not all(reader.is_channels_last(name) for name in inputs):
        raise UnsupportedNode("it joins a channels-last (N×H×W×C) view with other tensors; Layerwise cannot align them")
    axis = read_int(attrs, "axis", 1)
    if axis not in (-1, 3):
        raise UnsupportedNode(
            f"concatenating channels-last (N×H×W×C) views along axis {axis} has no layer; along the last axis "
            "(the channels) it is a Concat"
        )
    _merge(reader, node, Concat.type_name, inputs, reads_views=True)


@onnx_pattern("Max of one tensor", anchor="Max")
@onnx_pattern("Min of one tensor", anchor="Min")
@onnx_pattern("Mean of one tensor", anchor="Mean")
def _import_single_operand(reader: OnnxReader, node: OnnxNode, attrs: Attributes) -> list[OnnxNode] | None:
    """Max, Min or Mean of one computed tensor is that tensor; of several, no layer computes them."""
    inputs = [name for name in node.input if name]
    if len(inputs) != 1 or not reader.is_computed(inputs[0]):
        return None
    reader.alias(node.output[0], inputs[0])
    return []


def _unsqueezed_axes(reader: OnnxReader, node: OnnxNode, attrs: Attributes) -> list[int]:
    """The axes Unsqueeze ``node`` inserts into its computed input, sorted and ≥ 0."""
    if reader.opset >= 13:  # the axes became an input
        axes = (
            [int(a) for a in reader.require_constant(node.input[1], "axes").reshape(-1)] if len(node.input) > 1 else []
        )
    else:
        axes = read_ints(attrs, "axes")
    rank = len(reader.shape(node.input[0])) + 1 + len(axes)
    if any(not -rank <= a < rank for a in axes):
        raise UnsupportedNode(f"its axes {axes} do not fit a tensor of {rank} dimensions")
    return sorted(a % rank for a in axes)


def _gate_features(reader: OnnxReader, tensor: str) -> OnnxNode | None:
    """The Reshape or Unsqueeze that makes computed C features the N×C×1×1 ``tensor``, read once."""
    node = reader.producer_node(tensor)
    if node is None or node.op_type not in ("Reshape", "Unsqueeze") or reader.uses(tensor) != 1:
        return None
    if not reader.is_computed(node.input[0]) or len(reader.shape(node.input[0])) != 1:
        return None
    attrs, channels = reader.attributes(node), reader.shape(node.input[0])[0]
    try:
        if node.op_type == "Reshape":
            fits = reshape_target(reader, node, attrs) == [1, channels, 1, 1]
        else:
            fits = _unsqueezed_axes(reader, node, attrs) == [2, 3]
    except UnsupportedNode:  # their own converters say what is wrong
        return None
    return node if fits else None


@onnx_pattern("product of two computed tensors", anchor="Mul")
def _import_product(reader: OnnxReader, node: OnnxNode, attrs: Attributes) -> list[OnnxNode] | None:
    """Mul of two computed tensors → Multiply: of equal shapes, or a map and a per-channel gate.

    The gate is a C×1×1 map, or C features made N×C×1×1 by a Reshape or Unsqueeze (taken
    in); the map becomes input 1. With a constant operand it is no merge: the Mul converter
    in normalization.py reads it.
    """
    operands, shapes, taken = [], [], []
    for tensor in node.input[:2]:
        if reader.is_computed(tensor):
            operands.append(tensor)
            shapes.append(reader.shape(tensor))
            continue
        reshape = _gate_features(reader, tensor)
        if reshape is None:
            return None
        operands.append(reshape.input[0])
        shapes.append((reader.shape(reshape.input[0])[0], 1, 1))  # as ONNX broadcasts it
        taken.append(reshape)
    if _gates(shapes[1], shapes[0]):
        operands.reverse()
        shapes.reverse()
    # N×C features against N×C×H×W would broadcast C against W in ONNX: not a gate.
    if shapes[0] != shapes[1] and not (_gates(shapes[0], shapes[1]) and len(shapes[1]) == 3):
        raise UnsupportedNode(
            f"multiplying N×{format_shape(shapes[0])} by N×{format_shape(shapes[1])} broadcasts in a way no layer "
            "does; Multiply takes equal shapes, or a map and a per-channel gate of N×C×1×1"
        )
    reader.add_layer(node, Multiply.type_name, {}, operands)
    return taken
