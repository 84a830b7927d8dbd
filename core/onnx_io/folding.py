"""Evaluate constant sub-graphs of an ONNX model with NumPy.

Real models compute reshape targets and weights with small chains (Constant,
ConstantOfShape, Shape → Gather → Unsqueeze → Concat …). Those are folded into plain
arrays before layers are mapped. ``Shape`` of a computed tensor uses its known shape
with a batch of 1, which is what such chains feed into Reshape.

Everything here reads untrusted files: tensors are checked to hold exactly the data
their dims announce before they become arrays, and the size of every folded result
is computed before it is, so that a few bytes of model cannot ask for gigabytes.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

Attributes = dict[str, Any]
Folder = Callable[[list[np.ndarray], Attributes, int], list[np.ndarray]]

MAX_FOLDED_BYTES = 1 << 30
"""Most bytes constant folding may produce in one model. Weight-stripped models (the onnx
package's light models) rebuild their weights with ConstantOfShape: VGG-19's take 548 MB."""
NUMERIC_TYPES = frozenset(
    {
        TensorProto.FLOAT, TensorProto.DOUBLE, TensorProto.FLOAT16, TensorProto.BOOL,
        TensorProto.INT8, TensorProto.INT16, TensorProto.INT32, TensorProto.INT64,
        TensorProto.UINT8, TensorProto.UINT16, TensorProto.UINT32, TensorProto.UINT64,
    }
)  # fmt: skip
"""Tensor element types read: one NumPy number per element (no strings, packed or 8-bit float types)."""


class FoldError(ValueError):
    """A tensor whose data does not match its header, or a constant computation that cannot be done."""


def _type_name(data_type: int) -> str:
    return TensorProto.DataType.Name(data_type) if data_type in TensorProto.DataType.values() else str(data_type)


def tensor_array(tensor: TensorProto) -> np.ndarray:
    """``tensor`` as an array, after checking that it holds exactly the numbers its dims announce.

    Raises
    ------
    FoldError
        For another element type, negative dims, data of another length, or data that
        was to be read from an external file (:func:`~core.onnx_io.importer.load_onnx_model`
        reads it, checked, before this is called).
    """
    label = f"tensor {tensor.name!r}" if tensor.name else "a tensor"
    if tensor.data_type not in NUMERIC_TYPES:
        raise FoldError(f"{label} has element type {_type_name(tensor.data_type)}, which Layerwise does not read")
    if any(d < 0 for d in tensor.dims):
        raise FoldError(f"{label} has negative dims {list(tensor.dims)}")
    if tensor.HasField("segment") or tensor.data_location == TensorProto.EXTERNAL:
        raise FoldError(f"{label} keeps its data in segments or an external file that was not read")
    count = math.prod(tensor.dims)
    if tensor.HasField("raw_data"):
        needed = count * np.dtype(helper.tensor_dtype_to_np_dtype(tensor.data_type)).itemsize
        found = len(tensor.raw_data)
        unit = "bytes"
    else:
        needed, found = count, len(getattr(tensor, helper.tensor_dtype_to_field(tensor.data_type)))
        unit = "values"
    if found != needed:
        raise FoldError(f"{label} holds {found:,} {unit} of data; its dims {list(tensor.dims)} need {needed:,}")
    try:
        return numpy_helper.to_array(tensor)
    except ValueError as exc:  # dims no array can have, e.g. [0, 2**62]: empty, yet too big for NumPy
        raise FoldError(f"{label} has dims {list(tensor.dims)} that no array can have ({exc})") from None


def attributes_of(node: onnx.NodeProto) -> Attributes:
    """Node attributes as Python values (tensors become arrays).

    Raises
    ------
    ValueError
        For an attribute of an unknown type or a tensor that :func:`tensor_array` refuses.
    """
    result: Attributes = {}
    for attribute in node.attribute:
        value = helper.get_attribute_value(attribute)
        if isinstance(value, onnx.TensorProto):
            value = tensor_array(value)
        elif isinstance(value, bytes):
            value = value.decode("utf-8", "replace")
        result[attribute.name] = value
    return result


def _constant(inputs: list[np.ndarray], attrs: Attributes, opset: int) -> list[np.ndarray]:
    for key, dtype in (
        ("value", None),
        ("value_float", np.float32),
        ("value_floats", np.float32),
        ("value_int", np.int64),
        ("value_ints", np.int64),
    ):
        if key in attrs:
            return [np.asarray(attrs[key], dtype=dtype)]
    raise ValueError("Constant without a supported value attribute")


def _constant_of_shape(inputs: list[np.ndarray], attrs: Attributes, opset: int) -> list[np.ndarray]:
    value = _fill_value(attrs)
    return [np.full(_shape_input(inputs[0]), value.reshape(-1)[0], dtype=value.dtype)]


def _fill_value(attrs: Attributes) -> np.ndarray:
    value = attrs.get("value", np.zeros(1, np.float32))
    if not isinstance(value, np.ndarray) or value.size != 1:
        raise FoldError("ConstantOfShape's value must be a tensor of one number")
    return value


def _shape_input(shape: np.ndarray) -> tuple[int, ...]:
    """A shape given as a tensor: a vector of whole numbers ≥ 0."""
    if shape.ndim > 1 or shape.dtype.kind not in "iu" or (shape < 0).any():
        raise FoldError(f"a shape must be a vector of whole numbers ≥ 0, got {shape.tolist()!r:.80}")
    return tuple(int(d) for d in shape.reshape(-1))


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


def _cast_target(attrs: Attributes) -> np.dtype:
    target = attrs.get("to")
    if not isinstance(target, int) or target not in NUMERIC_TYPES:
        raise FoldError(f"Cast to element type {target!r:.40} is not to a number type Layerwise reads")
    return np.dtype(helper.tensor_dtype_to_np_dtype(target))


def _binary(function: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> Folder:
    return lambda inputs, attrs, opset: [np.asarray(function(inputs[0], inputs[1]))]


FOLDERS: dict[str, Folder] = {
    "Constant": _constant,
    "ConstantOfShape": _constant_of_shape,
    "Identity": lambda inputs, attrs, opset: [inputs[0]],
    "Shape": lambda inputs, attrs, opset: [np.array(inputs[0].shape, dtype=np.int64)],
    "Size": lambda inputs, attrs, opset: [np.array(inputs[0].size, dtype=np.int64)],
    "Cast": lambda inputs, attrs, opset: [inputs[0].astype(_cast_target(attrs))],
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
FOLD_INPUTS = {"Constant": 0, "Gather": 2, "Slice": 3, "Reshape": 2, "Add": 2, "Sub": 2, "Mul": 2, "Div": 2}
"""Leading inputs a folder reads, where it is not one."""


def fold_inputs(op_type: str, opset: int) -> int | None:
    """How many leading inputs folding ``op_type`` reads; ``None`` for an op that does not fold."""
    if op_type not in FOLDERS:
        return None
    if op_type == "Slice" and opset < 10:  # starts and ends were attributes
        return 1
    return FOLD_INPUTS.get(op_type, 1)


def result_bytes(op_type: str, inputs: list[np.ndarray | None], attrs: Attributes) -> int:
    """Bytes the result of folding ``op_type`` will take, computed before folding.

    Operators whose result can be larger than their inputs are computed exactly
    (ConstantOfShape, broadcasting arithmetic, Gather, Concat, Cast); for the others,
    the largest input bounds the result.
    """
    if op_type == "ConstantOfShape":
        return math.prod(_shape_input(inputs[0])) * _fill_value(attrs).itemsize
    if op_type in ("Add", "Sub", "Mul", "Div") and len(inputs) >= 2:
        shape = np.broadcast_shapes(inputs[0].shape, inputs[1].shape)  # ValueError when they do not broadcast
        return math.prod(shape) * np.result_type(inputs[0], inputs[1]).itemsize
    if op_type == "Gather" and len(inputs) >= 2 and inputs[0].ndim:
        axis = attrs.get("axis", 0)
        rows = inputs[0].shape[axis] if isinstance(axis, int) and -inputs[0].ndim <= axis < inputs[0].ndim else 1
        return inputs[1].size * (inputs[0].size // max(rows, 1)) * inputs[0].itemsize
    present = [a for a in inputs if a is not None]
    if op_type == "Concat":
        return sum(a.size for a in present) * max((a.itemsize for a in present), default=0)
    if op_type == "Cast" and present:
        return present[0].size * _cast_target(attrs).itemsize
    return max((a.nbytes for a in present), default=0)


OPTIONAL_INPUTS = {"Slice": (3, 4), "Squeeze": (1,), "Unsqueeze": (1,)}
"""Input positions an empty name may leave out (``None`` in the list of inputs)."""


def fold(
    node: onnx.NodeProto, inputs: list[np.ndarray | None], opset: int, budget: int = MAX_FOLDED_BYTES
) -> list[np.ndarray]:
    """Evaluate ``node`` on constant ``inputs``, producing at most ``budget`` bytes.

    Raises
    ------
    KeyError
        For an op that cannot fold.
    ValueError, IndexError, TypeError
        When the inputs or attributes do not suit the op (:class:`FoldError` among them),
        or the result would be larger than ``budget``.
    """
    for index, value in enumerate(inputs):
        if value is None and index not in OPTIONAL_INPUTS.get(node.op_type, ()):
            raise FoldError(f"its input {index + 1} is empty but required")
    attrs = attributes_of(node)
    size = result_bytes(node.op_type, inputs, attrs)
    if size > budget:
        raise FoldError(f"its result would take {size:,} bytes; Layerwise folds at most {budget:,} more")
    # ONNX arithmetic follows IEEE rules: a division by zero gives infinity, not a warning.
    with np.errstate(all="ignore"):
        return FOLDERS[node.op_type](inputs, attrs, opset)
