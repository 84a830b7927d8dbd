"""Evaluate constant sub-graphs of an ONNX model with NumPy.

Real models compute reshape targets and weights with small chains (Constant,
ConstantOfShape, Shape → Gather → Unsqueeze → Concat …). Those are folded into plain
arrays before layers are mapped. ``Shape`` of a computed tensor uses its known shape
with a batch of 1, which is what such chains feed into Reshape.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import onnx
from onnx import helper, numpy_helper

Attributes = dict[str, Any]
Folder = Callable[[list[np.ndarray], Attributes, int], list[np.ndarray]]


def attributes_of(node: onnx.NodeProto) -> Attributes:
    """Node attributes as Python values (tensors become arrays)."""
    result: Attributes = {}
    for attribute in node.attribute:
        value = helper.get_attribute_value(attribute)
        if isinstance(value, onnx.TensorProto):
            value = numpy_helper.to_array(value)
        elif isinstance(value, bytes):
            value = value.decode("utf-8", "replace")
        result[attribute.name] = value
    return result


def _constant(inputs: list[np.ndarray], attrs: Attributes, opset: int) -> list[np.ndarray]:
    for key, dtype in (("value", None), ("value_float", np.float32), ("value_floats", np.float32), ("value_int", np.int64), ("value_ints", np.int64)):
        if key in attrs:
            return [np.asarray(attrs[key], dtype=dtype)]
    raise ValueError("Constant without a supported value attribute")


def _constant_of_shape(inputs: list[np.ndarray], attrs: Attributes, opset: int) -> list[np.ndarray]:
    value = attrs.get("value", np.zeros(1, np.float32))
    return [np.full(tuple(int(d) for d in inputs[0]), value.reshape(-1)[0], dtype=value.dtype)]


def _axes(inputs: list[np.ndarray], attrs: Attributes, position: int) -> list[int] | None:
    if len(inputs) > position and inputs[position] is not None and inputs[position].size:
        return [int(a) for a in inputs[position]]
    return list(attrs["axes"]) if "axes" in attrs else None


def _unsqueeze(inputs: list[np.ndarray], attrs: Attributes, opset: int) -> list[np.ndarray]:
    result = inputs[0]
    axes = _axes(inputs, attrs, 1) or []
    rank = result.ndim + len(axes)
    for axis in sorted(a % rank for a in axes):
        result = np.expand_dims(result, axis)
    return [result]


def _squeeze(inputs: list[np.ndarray], attrs: Attributes, opset: int) -> list[np.ndarray]:
    axes = _axes(inputs, attrs, 1)
    return [np.squeeze(inputs[0], axis=tuple(axes) if axes is not None else None)]


def _reshape(inputs: list[np.ndarray], attrs: Attributes, opset: int) -> list[np.ndarray]:
    data, shape = inputs[0], [int(d) for d in inputs[1]]
    shape = [data.shape[i] if d == 0 and not attrs.get("allowzero") else d for i, d in enumerate(shape)]
    return [data.reshape(shape)]


def _slice(inputs: list[np.ndarray], attrs: Attributes, opset: int) -> list[np.ndarray]:
    data = inputs[0]
    if opset < 10:
        starts, ends, axes, steps = attrs["starts"], attrs["ends"], attrs.get("axes"), None
    else:
        starts, ends = inputs[1], inputs[2]
        axes = inputs[3] if len(inputs) > 3 and inputs[3] is not None else None
        steps = inputs[4] if len(inputs) > 4 and inputs[4] is not None else None
    axes = list(range(len(starts))) if axes is None else [int(a) for a in axes]
    index = [slice(None)] * data.ndim
    for i, axis in enumerate(axes):
        step = int(steps[i]) if steps is not None else 1
        index[axis] = slice(int(starts[i]), int(ends[i]), step)
    return [data[tuple(index)]]


def _binary(function: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> Folder:
    return lambda inputs, attrs, opset: [np.asarray(function(inputs[0], inputs[1]))]


FOLDERS: dict[str, Folder] = {
    "Constant": _constant,
    "ConstantOfShape": _constant_of_shape,
    "Identity": lambda inputs, attrs, opset: [inputs[0]],
    "Shape": lambda inputs, attrs, opset: [np.array(inputs[0].shape, dtype=np.int64)],
    "Size": lambda inputs, attrs, opset: [np.array(inputs[0].size, dtype=np.int64)],
    "Cast": lambda inputs, attrs, opset: [inputs[0].astype(helper.tensor_dtype_to_np_dtype(attrs["to"]))],
    "Gather": lambda inputs, attrs, opset: [np.take(inputs[0], inputs[1].astype(np.int64), axis=attrs.get("axis", 0))],
    "Unsqueeze": _unsqueeze,
    "Squeeze": _squeeze,
    "Concat": lambda inputs, attrs, opset: [np.concatenate([np.atleast_1d(a) for a in inputs], axis=attrs["axis"])],
    "Reshape": _reshape,
    "Transpose": lambda inputs, attrs, opset: [np.transpose(inputs[0], attrs.get("perm"))],
    "Slice": _slice,
    "Add": _binary(np.add),
    "Sub": _binary(np.subtract),
    "Mul": _binary(np.multiply),
    "Div": _binary(lambda a, b: a // b if np.issubdtype(a.dtype, np.integer) else a / b),
    "Sqrt": lambda inputs, attrs, opset: [np.sqrt(inputs[0])],
    "Reciprocal": lambda inputs, attrs, opset: [1 / inputs[0]],
    "Neg": lambda inputs, attrs, opset: [-inputs[0]],
}
"""Operators evaluated when every input is constant."""


def fold(node: onnx.NodeProto, inputs: list[np.ndarray], opset: int) -> list[np.ndarray]:
    """Evaluate ``node`` on constant ``inputs``; raise ``KeyError`` for an op that cannot fold."""
    return FOLDERS[node.op_type](inputs, attributes_of(node), opset)
