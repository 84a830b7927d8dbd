"""Layers that merge several branches into one tensor."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from core.errors import ShapeError
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
from core.ops.basic import AddOp, ConcatOp
from core.ops.op import Op
from core.registry import register
from core.shapes import Shape, format_shape, is_image


@register
class Add(Layer):
    """Elementwise sum of any number of equally shaped inputs (residual connections)."""

    type_name = "Add"
    onnx_op = "Sum"
    category = "Merge"
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

    def onnx_attributes(self) -> dict[str, Any]:
        return {"axis": 1}


# -- ONNX import ----------------------------------------------------------------------------


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
    if len(inputs) == 1:
        reader.alias(node.output[0], inputs[0])
    else:
        reader.add_layer(node, Add.type_name, {}, inputs)


@onnx_converter("Concat")
def _import_concat(reader: OnnxReader, node: OnnxNode, attrs: Attributes) -> None:
    """Concat of computed tensors along the channels (or features) → Concat."""
    inputs = [name for name in node.input if name]
    computed = all(reader.is_computed(name) for name in inputs)
    rank = len(reader.shape(inputs[0])) + 1 if computed else 1
    if not computed or read_int(attrs, "axis", 1) % rank != 1:
        raise UnsupportedNode("only concatenation of computed tensors along channels is supported")
    reader.add_layer(node, Concat.type_name, {}, inputs)
