"""Turn valid seeds into malformed inputs.

Every mutator takes a :class:`~tests.fuzz.corpus.Payload` and a ``random.Random`` and
returns a new payload; all randomness comes from that generator, so a campaign is
reproducible from its seed and hypothesis can drive the same mutators through
``st.randoms()``.

Byte-level mutators (truncate, flip bits, splice, insert huge integers, repeat
chunks) work on any file. Structure-level ones know the format: JSON trees for
network files, protobuf fields for ONNX, ``.npy`` headers and arrays for ``.npz``,
pickle opcodes and batch contents for CIFAR, headers and folder layouts for images.
"""

from __future__ import annotations

import io
import json
import pickle
import random
import struct
import warnings
import zipfile
from collections.abc import Callable
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from tests.fuzz.corpus import Payload, idx_bytes, image_bytes, python2_pickle

Mutator = Callable[[Payload, random.Random], Payload]

MAX_GROWTH = 1 << 20
"""Mutated files stay below about this many bytes: big inputs make cases slow, not interesting."""
DEEP = 100_000
"""Nesting depth of the deepest structures generated (lists in JSON, lists in pickles)."""

HUGE_INTS = (
    0, 1, -1, 2, 255, 256, 65535, 65536, 2**31 - 1, 2**31, 2**32 - 1, 2**32, 2**53 + 1, 2**63 - 1, 2**63, 2**64,
    -(2**31), -(2**63), 10**12, 10**30,
)  # fmt: skip
"""Sizes and counts that break arithmetic: zero, negative, just past each integer width, far beyond."""
WEIRD_VALUES: tuple[Any, ...] = (
    None,
    True,
    False,
    "",
    "x" * 300,
    0.5,
    -1,
    10**30,
    -(10**30),
    1e308,
    [],
    {},
    [[]],
    {"": None},
)
"""JSON values of every type, for fields that expect another one."""


def _pick_file(payload: Payload, rng: random.Random) -> str:
    """A file of ``payload`` to mutate, the loader's target more often than the others."""
    names = sorted(payload.files)
    if payload.target in payload.files and rng.random() < 0.5:
        return payload.target
    return rng.choice(names)


def _on_bytes(function: Callable[[bytes, random.Random], bytes]) -> Mutator:
    """Lift a byte-level mutation to a payload mutator acting on one of its files."""

    def mutate(payload: Payload, rng: random.Random) -> Payload:
        if not payload.files:
            return payload
        name = _pick_file(payload, rng)
        return payload.with_file(name, function(payload.files[name], rng)[:MAX_GROWTH])

    mutate.__name__ = function.__name__
    return mutate


# -- byte level --------------------------------------------------------------------------------


def _position(data: bytes, rng: random.Random) -> int:
    # Headers are where sizes live: favour the first bytes.
    if data and rng.random() < 0.5:
        return rng.randrange(min(len(data), 64))
    return rng.randrange(len(data) + 1)


def truncate(data: bytes, rng: random.Random) -> bytes:
    """Cut the data short (empty, mid-header or mid-body)."""
    return data[: _position(data, rng)]


def flip_bits(data: bytes, rng: random.Random) -> bytes:
    """Flip one to eight bits."""
    if not data:
        return data
    buffer = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        index = _position(data, rng) % len(buffer)
        buffer[index] ^= 1 << rng.randrange(8)
    return bytes(buffer)


def set_bytes(data: bytes, rng: random.Random) -> bytes:
    """Overwrite a few bytes with boundary values."""
    if not data:
        return data
    buffer = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        buffer[_position(data, rng) % len(buffer)] = rng.choice((0x00, 0x01, 0x7F, 0x80, 0xFF))
    return bytes(buffer)


def insert_huge_int(data: bytes, rng: random.Random) -> bytes:
    """Write a boundary integer (4 or 8 bytes, either endianness) over or into the data."""
    value = rng.choice(HUGE_INTS)
    width = rng.choice((2, 4, 8))
    encoded = (value % (1 << (8 * width))).to_bytes(width, rng.choice(("big", "little")))
    index = _position(data, rng)
    if rng.random() < 0.7:
        return data[:index] + encoded + data[index + width :]
    return data[:index] + encoded + data[index:]


def repeat_chunk(data: bytes, rng: random.Random) -> bytes:
    """Repeat a chunk of the data up to a thousand times."""
    if not data:
        return data
    start = rng.randrange(len(data))
    chunk = data[start : start + rng.randint(1, 64)]
    return data[:start] + chunk * rng.choice((2, 10, 1000)) + data[start:]


def delete_chunk(data: bytes, rng: random.Random) -> bytes:
    """Remove a chunk of the data."""
    if not data:
        return data
    start = rng.randrange(len(data))
    return data[:start] + data[start + rng.randint(1, 64) :]


def insert_random(data: bytes, rng: random.Random) -> bytes:
    """Insert random bytes."""
    index = _position(data, rng)
    return data[:index] + rng.randbytes(rng.randint(1, 32)) + data[index:]


def splice_within(data: bytes, rng: random.Random) -> bytes:
    """Copy a piece of the data over another place in it."""
    if len(data) < 2:
        return data
    source, target = rng.randrange(len(data)), rng.randrange(len(data))
    piece = data[source : source + rng.randint(1, 256)]
    return data[:target] + piece + data[target + len(piece) :]


def replace_numbers(data: bytes, rng: random.Random) -> bytes:
    """In text, replace a run of digits by a negative, huge, fractional or non-finite number."""
    digits = [i for i, byte in enumerate(data) if 0x30 <= byte <= 0x39]
    if not digits:
        return data
    start = end = rng.choice(digits)
    while end < len(data) and 0x30 <= data[end] <= 0x39:
        end += 1
    choice = rng.choice((b"-1", b"0", b"-0", b"99999999999999999999999", b"1e308", b"1e999", b"-1e999", b"NaN",
                         b"Infinity", b"0.5", b"1" + b"0" * 5000, b"true", b"null"))  # fmt: skip
    return data[:start] + choice + data[end:]


BYTE_MUTATORS: tuple[Mutator, ...] = tuple(
    _on_bytes(function)
    for function in (
        truncate,
        flip_bits,
        set_bytes,
        insert_huge_int,
        repeat_chunk,
        delete_chunk,
        insert_random,
        splice_within,
    )
)


def splice_seeds(seeds: tuple[Payload, ...]) -> Mutator:
    """A mutator joining the head of one file with the tail of a file of another seed."""

    def splice(payload: Payload, rng: random.Random) -> Payload:
        if not payload.files:
            return payload
        name = _pick_file(payload, rng)
        other = rng.choice(seeds)
        if not other.files:
            return payload
        donor = other.files[rng.choice(sorted(other.files))]
        data = payload.files[name]
        cut, donor_cut = rng.randint(0, len(data)), rng.randint(0, len(donor))
        return payload.with_file(name, data[:cut] + donor[donor_cut:])

    return splice


def rename_file(payload: Payload, rng: random.Random) -> Payload:
    """Drop a file, or give it another name (a loader picks files by name)."""
    if not payload.files:
        return payload
    name = rng.choice(sorted(payload.files))
    content = payload.files[name]
    stripped = payload.without_file(name)
    if rng.random() < 0.4:
        return stripped
    folder = name.rpartition("/")[0]
    new = rng.choice(("x", ".hidden", "data.gz", "a.npz", "test_batch", "img.png", "sub/deeper.png", "x.jpg"))
    return stripped.with_file(f"{folder}/{new}" if folder else new, content)


# -- JSON (network files) ------------------------------------------------------------------------


def _json_paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Paths (keys and indices) of every node of a JSON tree, the root included."""
    paths = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            paths += _json_paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            paths += _json_paths(item, (*prefix, index))
    return paths


def _get(value: Any, path: tuple[Any, ...]) -> Any:
    for step in path:
        value = value[step]
    return value


def _set(root: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    _get(root, path[:-1])[path[-1]] = new
    return root


def _nested_list(depth: int) -> Any:
    value: Any = []
    for _ in range(depth):
        value = [value]
    return value


def _json_change(tree: Any, rng: random.Random) -> Any:
    """One structural change at a random node: wrong type, bad number, missing or extra key, nesting."""
    path = rng.choice(_json_paths(tree))
    node = _get(tree, path)
    action = rng.randrange(8)
    if action == 0:
        return _set(tree, path, rng.choice(WEIRD_VALUES))
    if action == 1 and isinstance(node, (int, float)) and not isinstance(node, bool):
        return _set(tree, path, rng.choice((-node, -1, 0, 2**31, 2**63, 10**30, 1e308, 0.5, -(10**18))))
    if action == 2 and isinstance(node, dict) and node:
        del node[rng.choice(sorted(node))]
        return tree
    if action == 3 and isinstance(node, dict):
        node[rng.choice(("extra", "__proto__", "inputs", "params", "", "shape"))] = rng.choice(WEIRD_VALUES)
        return tree
    if action == 4:
        # Deep, but below the JSON parser's limit: does anything after parsing recurse on it?
        return _set(tree, path, _nested_list(rng.choice((50, 200, 500, 900))))
    if action == 5 and isinstance(node, list) and node:
        node.append(node[rng.randrange(len(node))])  # duplicates: names, inputs, layers
        return tree
    if action == 6 and isinstance(node, str):
        return _set(tree, path, rng.choice(("", " ", "input", "conv", "\x00", "é" * 200, node * 50, "../" + node)))
    if action == 7 and isinstance(node, list) and node:
        rng.shuffle(node)  # inputs in other order, layers named before they are defined
        return tree
    return _set(tree, path, rng.choice(WEIRD_VALUES))


def json_structure(payload: Payload, rng: random.Random) -> Payload:
    """Parse the network file and apply one to four structural changes."""
    name = payload.target
    try:
        tree = json.loads(payload.files[name])
        for _ in range(rng.randint(1, 4)):
            tree = _json_change(tree, rng)
        return payload.with_file(name, json.dumps(tree).encode("utf-8"))
    except (ValueError, KeyError, RecursionError):  # an earlier mutation left no JSON tree to walk
        return payload


def json_layer_graph(payload: Payload, rng: random.Random) -> Payload:
    """Rewire layers: self-loops, cycles, dangling inputs, duplicated names, huge fan-in."""
    name = payload.target
    try:
        tree = json.loads(payload.files[name])
        layers = tree["layers"]
        names = [layer["name"] for layer in layers]
    except (ValueError, KeyError, TypeError, RecursionError):
        return payload
    if not layers:
        return payload
    layer = rng.choice(layers)
    action = rng.randrange(5)
    if action == 0:
        layer["inputs"] = [layer["name"]]
    elif action == 1:
        layers[0]["inputs"] = [names[-1]]
    elif action == 2:
        layer["inputs"] = ["missing"]
    elif action == 3:
        layer["name"] = rng.choice(names)
    else:
        layer["inputs"] = [rng.choice(names) for _ in range(rng.choice((2, 50, 1000)))]
    return payload.with_file(name, json.dumps(tree).encode("utf-8"))


def json_deep_nesting(payload: Payload, rng: random.Random) -> Payload:
    """A whole file of 100,000 nested lists or objects, or an unterminated one."""
    depth = rng.choice((DEEP, 2000, 1000))
    opener, closer = rng.choice(((b"[", b"]"), (b'{"a":', b"}")))
    text = opener * depth + b"1" + closer * (depth if rng.random() < 0.7 else 0)
    return payload.with_file(payload.target, text)


def json_many_layers(payload: Payload, rng: random.Random) -> Payload:
    """A valid chain of a hundred to twenty thousand layers: does loading stay fast?"""
    count = rng.choice((100, 1000, 3999, 4001, 20_000))
    layers: list[dict[str, Any]] = [{"name": "input", "type": "Input", "params": {"shape": [4]}}]
    layers += [{"name": f"r{i}", "type": "ReLU", "inputs": [layers[-1]["name"] if i == 0 else f"r{i - 1}"]}
               for i in range(count)]  # fmt: skip
    data = {"format": "layerwise.network", "version": 1, "layers": layers}
    return payload.with_file(payload.target, json.dumps(data).encode("utf-8"))


def json_text(payload: Payload, rng: random.Random) -> Payload:
    """Text-level changes: numbers replaced, invalid UTF-8, BOM, constants JSON does not allow."""
    name = payload.target
    data = payload.files[name]
    action = rng.randrange(4)
    if action == 0:
        return payload.with_file(name, replace_numbers(data, rng))
    if action == 1:
        return payload.with_file(name, b"\xef\xbb\xbf" + data)
    if action == 2:
        index = rng.randrange(len(data) + 1)
        return payload.with_file(name, data[:index] + rng.choice((b"\xff", b"\xc3", b"\xed\xa0\x80")) + data[index:])
    return payload.with_file(name, data.replace(b"1", rng.choice((b"NaN", b"Infinity", b"-Infinity")), 1))


# -- ONNX -------------------------------------------------------------------------------------------

_TENSOR_TYPES = (*tuple(range(26)), 99, -1)
# fmt: off
_FOLDED_OPS = ("Constant", "ConstantOfShape", "Shape", "Size", "Cast", "Gather", "Unsqueeze", "Squeeze", "Concat",
               "Reshape", "Transpose", "Slice", "Add", "Sub", "Mul", "Div", "Sqrt", "Reciprocal", "Neg", "Identity")
_MAPPED_OPS = ("Conv", "MaxPool", "AveragePool", "GlobalAveragePool", "BatchNormalization", "LRN", "Relu", "LeakyRelu",
               "Softmax", "Dropout", "Gemm", "MatMul", "Add", "Sum", "Concat", "Flatten", "Reshape", "Transpose",
               "Squeeze", "Identity", "Elu", "Loop", "If", "Unknown")
_OUTSIDE_LOCATIONS = ("../outside.bin", "/etc/passwd", "sub/../../outside.bin", "..", ".", "", "model.onnx",
                      "/", "a\x00b", "x" * 5000, "./../outside.bin", "sub/../data.bin", "data.bin", "missing.bin")
# fmt: on


def _int64(value: int) -> int:
    """``value`` clamped into the int64 range (ONNX stores integers as int64)."""
    return max(min(value, 2**63 - 1), -(2**63))


def _small_array(rng: random.Random) -> np.ndarray:
    """A small constant of a random dtype and shape, sometimes holding boundary values."""
    shape = tuple(rng.choice((0, 1, 2, 3, 4)) for _ in range(rng.randint(0, 4)))
    dtype = rng.choice((np.float32, np.int64, np.int32, np.float64, np.uint8, np.bool_, np.float16))
    values = np.array([rng.choice((0, 1, -1, 2, 3, 7, 2**31 - 1, -(2**31))) for _ in range(int(np.prod(shape)))])
    with np.errstate(over="ignore"):  # wrapping around is as good a boundary value as any
        return values.astype(dtype).reshape(shape) if values.size else np.zeros(shape, dtype)


def _onnx_tensor(tensor: TensorProto, rng: random.Random) -> None:
    """Break one tensor: dims, data type, data length or data location."""
    action = rng.randrange(7)
    if action == 0 and tensor.dims:
        tensor.dims[rng.randrange(len(tensor.dims))] = rng.choice((0, -1, -(2**40), 2**31, 2**40, 2**62))
    elif action == 1:
        tensor.dims.extend([rng.choice((1, 2, 2**20, 2**33))] * rng.randint(1, 3))
    elif action == 2:
        tensor.data_type = rng.choice(_TENSOR_TYPES)
    elif action == 3:
        raw = tensor.raw_data
        tensor.raw_data = (
            raw[: rng.randrange(len(raw) + 1)]
            if raw and rng.random() < 0.5
            else raw + b"\x00" * rng.choice((1, 3, 4096))
        )
    elif action == 4:
        tensor.ClearField("raw_data")
        target = rng.choice(("float_data", "int64_data", "int32_data", "double_data", "string_data"))
        if target == "string_data":
            tensor.string_data.extend([b"x", b"\xff"])
        else:
            getattr(tensor, target).extend([rng.choice((0, 1, 2**31 - 1)) for _ in range(rng.choice((0, 1, 5)))])
    elif action == 5:
        del tensor.dims[:]
    else:
        _externalise(tensor, rng)


def _externalise(tensor: TensorProto, rng: random.Random) -> None:
    """Point the tensor's data to an external file: inside, outside, missing, or with silly offsets."""
    tensor.ClearField("raw_data")
    tensor.data_location = TensorProto.EXTERNAL
    del tensor.external_data[:]
    entries = {"location": rng.choice(_OUTSIDE_LOCATIONS)}
    if rng.random() < 0.5:
        entries["offset"] = str(rng.choice((0, 1, -1, 2**40, 10**30)))
    if rng.random() < 0.5:
        entries["length"] = str(rng.choice((0, 1, 4, -4, 2**40, 10**30, "x")))
    if rng.random() < 0.2:
        entries["checksum"] = "x"
    for key, value in entries.items():
        tensor.external_data.add(key=key, value=value)


def _onnx_attribute(node: onnx.NodeProto, rng: random.Random) -> None:
    """Change an attribute's value or type, or add one the op does not expect."""
    names = (
        "kernel_shape", "strides", "pads", "dilations", "group", "axis", "perm", "to", "auto_pad", "alpha",
        "epsilon", "value", "ceil_mode", "transB", "allowzero", "axes", "starts", "ends", "size", "ratio",
    )  # fmt: skip
    name = rng.choice([a.name for a in node.attribute] + list(names))
    for index, attribute in enumerate(node.attribute):
        if attribute.name == name:
            del node.attribute[index]
            break
    kind = rng.randrange(7)
    if kind == 0:
        value: Any = _int64(rng.choice(HUGE_INTS))
    elif kind == 1:
        value = [_int64(rng.choice(HUGE_INTS)) for _ in range(rng.choice((0, 1, 2, 4, 5, 8)))]
    elif kind == 2:
        value = rng.choice((float("nan"), float("inf"), -1.0, 0.0, 1e30))
    elif kind == 3:
        value = rng.choice(("SAME_LOWER", "SAME_UPPER", "VALID", "NOTSET", "", "bogus"))
    elif kind == 4:
        value = numpy_helper.from_array(_small_array(rng))
    elif kind == 5:
        value = [float(v) for v in range(rng.choice((0, 2, 4)))]
    else:
        value = helper.make_graph([], "sub", [], [])
    if isinstance(value, list) and not value:  # an empty list has no type to infer
        node.attribute.append(helper.make_attribute(name, value, attr_type=onnx.AttributeProto.INTS))
    else:
        node.attribute.append(helper.make_attribute(name, value))


def _onnx_graph(model: onnx.ModelProto, rng: random.Random) -> None:
    """Rewire the graph: cycles, missing inputs, removed nodes, reordering, renamed outputs."""
    graph = model.graph
    nodes = graph.node
    if not nodes:
        return
    node = nodes[rng.randrange(len(nodes))]
    action = rng.randrange(7)
    if action == 0 and node.input:
        node.input[0] = nodes[-1].output[0] if nodes[-1].output else "cycle"  # a cycle through the last node
    elif action == 1 and node.input:
        node.input[rng.randrange(len(node.input))] = rng.choice(("missing", ""))
    elif action == 2:
        nodes.remove(node)
    elif action == 3:
        order = list(nodes)
        rng.shuffle(order)
        del nodes[:]
        nodes.extend(order)
    elif action == 4 and node.output:
        node.output[0] = rng.choice(
            ("x", graph.input[0].name if graph.input else "x", "", node.input[0] if node.input else "y")
        )
    elif action == 5:
        node.op_type = rng.choice(_MAPPED_OPS + _FOLDED_OPS)
    else:
        del graph.output[:]
        if rng.random() < 0.5:
            graph.output.add(name=rng.choice(("missing", nodes[0].output[0] if nodes[0].output else "")))


def _onnx_folding(model: onnx.ModelProto, rng: random.Random) -> None:
    """Add a node the importer evaluates on constants, fed odd constants (huge shapes, wrong types)."""
    graph = model.graph
    op = rng.choice(_FOLDED_OPS)
    inputs = []
    for index in range(rng.choice((0, 1, 2, 3, 5))):
        name = f"fold_in_{len(graph.initializer)}_{index}"
        if rng.random() < 0.3:
            value = np.array([_int64(rng.choice(HUGE_INTS)) for _ in range(rng.randint(1, 4))], dtype=np.int64)
        else:
            value = _small_array(rng)
        graph.initializer.append(numpy_helper.from_array(value, name))
        inputs.append(rng.choice((name, name, "", "missing")))
    node = helper.make_node(op, inputs, [f"fold_out_{len(graph.node)}"])
    for _ in range(rng.randint(0, 2)):
        _onnx_attribute(node, rng)
    graph.node.insert(rng.randrange(len(graph.node) + 1), node)


def _onnx_input(model: onnx.ModelProto, rng: random.Random) -> None:
    """Break the graph input: dims huge, negative or symbolic; rank, element type; a second input."""
    graph = model.graph
    if not graph.input:
        return
    tensor_type = graph.input[0].type.tensor_type
    dims = tensor_type.shape.dim
    action = rng.randrange(5)
    if action == 0 and dims:
        dims[rng.randrange(len(dims))].dim_value = rng.choice((0, -1, 2**31, 2**40, 2**62))
    elif action == 1 and dims:
        dims[rng.randrange(len(dims))].dim_param = rng.choice(("N", "", "?"))
    elif action == 2:
        for _ in range(rng.randint(1, 3)):
            dims.add().dim_value = rng.choice((1, 3, 2**20))
    elif action == 3:
        tensor_type.elem_type = rng.choice(_TENSOR_TYPES)
    else:
        graph.input.append(helper.make_tensor_value_info("extra", TensorProto.FLOAT, [1, rng.choice((1, 2**40))]))


def _onnx_model_fields(model: onnx.ModelProto, rng: random.Random) -> None:
    """Opset and IR versions out of range, foreign domains, empty names, nested subgraphs."""
    action = rng.randrange(6)
    if action == 0:
        del model.opset_import[:]
        model.opset_import.append(
            helper.make_opsetid(rng.choice(("", "ai.onnx", "com.x")), rng.choice((-1, 0, 1, 6, 10**9)))
        )
    elif action == 1:
        model.ir_version = rng.choice((-1, 0, 1, 10**6))
    elif action == 2 and model.graph.node:
        model.graph.node[rng.randrange(len(model.graph.node))].domain = rng.choice(("com.microsoft", "ai.onnx.ml", "x"))
    elif action == 3:
        for node in model.graph.node:
            node.name = ""
        model.graph.name = rng.choice(("", " ", "\x00" * 3, "n" * 10_000))
    elif action == 4:
        for node in model.graph.node:
            node.name = rng.choice(("", " ", "a/b", "n" * 1000))
    else:
        # A tensor inside a branch graph, where a check of the top level alone would not look.
        tensor = numpy_helper.from_array(np.zeros(4, np.float32), "hidden")
        _externalise(tensor, rng)
        branch = helper.make_graph([], "branch", [], [], [tensor])
        node = helper.make_node("If", [model.graph.input[0].name if model.graph.input else "x"], ["if_out"],
                                then_branch=branch, else_branch=branch)  # fmt: skip
        model.graph.node.insert(rng.randrange(len(model.graph.node) + 1), node)


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _field(number: int, content: bytes) -> bytes:
    """A length-delimited protobuf field."""
    return _varint(number << 3 | 2) + _varint(len(content)) + content


def deep_graph_bytes(depth: int) -> bytes:
    """A serialised GraphProto holding an ``If`` node whose branch nests ``depth`` graphs.

    Written on the wire by hand, protobuf refusing to build messages this deep in memory.
    The nested field comes last at every level, so each level is a prefix: built in
    linear time from the inside out.
    """
    prefixes, inner = [], 0
    attribute_head = _field(1, b"then_branch") + _varint(20 << 3) + _varint(5)
    node_head = _field(1, b"input") + _field(2, b"out") + _field(4, b"If")
    for _ in range(depth):
        attribute = attribute_head + _varint(6 << 3 | 2) + _varint(inner)
        node = node_head + _varint(5 << 3 | 2) + _varint(len(attribute) + inner)
        graph = _varint(1 << 3 | 2) + _varint(len(node) + len(attribute) + inner)
        prefix = graph + node + attribute
        prefixes.append(prefix)
        inner += len(prefix)
    return b"".join(reversed(prefixes))


def with_deep_graph(model: bytes, depth: int) -> bytes:
    """A serialised model with an ``If`` node nesting ``depth`` graphs appended to its graph.

    The graph is a field of the model that appears once; protobuf merges a repeated
    occurrence into it, so the node joins the others.
    """
    return model + _field(7, deep_graph_bytes(depth))


def onnx_deep_graphs(payload: Payload, rng: random.Random) -> Payload:
    """Append a node with graphs nested 3 to 20,000 deep."""
    name = payload.target
    # Each level is three messages deep (graph, node, attribute); protobuf stops at 100.
    depth = rng.choice((3, 10, 30, 33, 34, 50, 1000, 20_000))
    return payload.with_file(name, with_deep_graph(payload.files[name], depth))


def _onnx_many_nodes(model: onnx.ModelProto, rng: random.Random) -> None:
    """Repeat one node a hundred to sixty thousand times: does importing stay fast?"""
    nodes = list(model.graph.node)
    if not nodes:
        return
    index = rng.randrange(len(nodes))
    nodes[index + 1 : index + 1] = [nodes[index]] * rng.choice((100, 1000, 3900, 4100, 20_000, 60_000))
    del model.graph.node[:]
    model.graph.node.extend(nodes)


def _onnx_initializers(model: onnx.ModelProto, rng: random.Random) -> None:
    """Break one initializer (or the value tensor of a Constant), remove one, or duplicate one."""
    graph = model.graph
    tensors = list(graph.initializer)
    tensors += [a.t for n in graph.node for a in n.attribute if a.type == onnx.AttributeProto.TENSOR]
    if not tensors:
        return
    action = rng.randrange(4)
    if action == 0 and graph.initializer:
        graph.initializer.remove(graph.initializer[rng.randrange(len(graph.initializer))])
    elif action == 1 and graph.initializer:
        graph.initializer.append(graph.initializer[rng.randrange(len(graph.initializer))])
    else:
        _onnx_tensor(rng.choice(tensors), rng)


ONNX_CHANGES = (_onnx_initializers, _onnx_initializers, _onnx_attribute, _onnx_graph, _onnx_folding, _onnx_input,
                _onnx_model_fields, _onnx_initializers, _onnx_attribute, _onnx_graph, _onnx_folding,
                _onnx_many_nodes)  # fmt: skip


def onnx_structure(payload: Payload, rng: random.Random) -> Payload:
    """Parse the model, apply one to three protobuf-level changes, and add a data file when one is named."""
    name = payload.target
    model = onnx.ModelProto()
    try:
        model.ParseFromString(payload.files[name])
    except Exception:  # noqa: BLE001 - an earlier byte-level mutation broke it: nothing to restructure
        return payload
    for _ in range(rng.randint(1, 3)):
        change = rng.choice(ONNX_CHANGES)
        if change is _onnx_attribute:
            if model.graph.node:
                _onnx_attribute(model.graph.node[rng.randrange(len(model.graph.node))], rng)
        else:
            change(model, rng)
    mutated = payload.with_file(name, model.SerializeToString())
    # Give in-folder external data something to read, of a plausible or a wrong length.
    if rng.random() < 0.7:
        mutated = mutated.with_file("data.bin", rng.randbytes(rng.choice((0, 3, 64, 4096))))
    return mutated


# -- .npz (weights and datasets) -------------------------------------------------------------------

_DESCRS = ("<f4", "<f8", "<f2", "|u1", "<i8", "|b1", "<c16", "|O", "<U5", "|S3", "|V8", "<M8[s]", ">f4", "<m8[D]",
           "[('a', '<f4')]", "'<f4'", "<q", "f4", "<f4 ", "(1)")  # fmt: skip
_SHAPES = ("()", "(0,)", "(-1,)", "(-5, 3)", "(10**12,)", "(1000000000000, 1000000000000)", "(2147483648,)",
           "(4294967296, 4294967296, 4294967296)", "(3, 'a')", "(2.5,)", "[2, 3]", "(1,)*40", "(None,)", "(True,)",
           "(9223372036854775807,)", "(2, 3, 4, 5, 6)", "(1, 1, 1, 1)", "(65536, 65536)",
           "(" + "-" * 9000 + "1,)", "(" * 3000 + ")" * 3000, "(" + "9" * 5000 + ",)")  # fmt: skip


def npy_member(descr: str, fortran: str, shape: str, data: bytes, version: tuple[int, int] = (1, 0)) -> bytes:
    """A ``.npy`` file with a hand-written header, whatever its contents claim."""
    header = "{'descr': " + (descr if descr.startswith(("[", "'", "(")) else repr(descr))
    header += f", 'fortran_order': {fortran}, 'shape': {shape}, }}"
    header_bytes = header.encode("latin1")
    length_format = "<H" if version == (1, 0) else "<I"
    prefix_length = 6 + 2 + struct.calcsize(length_format)
    padding = 64 - (prefix_length + len(header_bytes) + 1) % 64
    header_bytes += b" " * padding + b"\n"
    length = struct.pack(length_format, len(header_bytes) % (1 << (8 * struct.calcsize(length_format))))
    return b"\x93NUMPY" + bytes(version) + length + header_bytes + data


def _read_members(content: bytes) -> dict[str, bytes] | None:
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            return {name: archive.read(name) for name in archive.namelist()}
    except Exception:  # noqa: BLE001 - a mutated archive: the byte-level mutators handle it
        return None


def _write_members(members: dict[str, bytes], compressed: bool) -> bytes:
    buffer = io.BytesIO()
    method = zipfile.ZIP_DEFLATED if compressed else zipfile.ZIP_STORED
    with zipfile.ZipFile(buffer, "w", method) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _load_npy(data: bytes) -> np.ndarray | None:
    try:
        return np.load(io.BytesIO(data), allow_pickle=False)
    except Exception:  # noqa: BLE001 - a member an earlier change already broke
        return None


def _save_npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=True)  # object arrays are pickled: exactly what loaders must refuse
    return buffer.getvalue()


def _array_change(array: np.ndarray, rng: random.Random) -> np.ndarray:
    """A new array from ``array``: another dtype, shape, or values (NaN, huge, objects)."""
    action = rng.randrange(8)
    if action == 0:
        dtype = rng.choice(
            (np.float16, np.float64, np.int64, np.uint8, np.bool_, np.complex64, np.int8, np.uint64, "U3", "S2")
        )
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", np.exceptions.ComplexWarning)  # a complex array is the point here
            return array.astype(dtype)
    if action == 1:
        return array.reshape(-1) if rng.random() < 0.5 else array.reshape(1, *array.shape)
    if action == 2:
        return array[: rng.randint(0, max(len(array) - 1, 0))] if array.ndim else array.reshape(1)[:0]
    if action == 3 and array.size and array.dtype.kind in "biuf":
        changed = array.astype(np.float64)
        changed.flat[rng.randrange(array.size)] = rng.choice((np.nan, np.inf, -np.inf, 1e300, -1.0, 2.5))
        return changed
    if action == 4:
        return np.array([rng.choice((None, "x", 1, [1, 2]))] * max(array.size, 1), dtype=object)
    if action == 5:
        return np.asarray(rng.choice((0, 1.5, 2**40)))
    if action == 6 and array.size and array.dtype.kind in "biuf":
        with np.errstate(invalid="ignore"):  # NaN from an earlier mutation: any integer will do
            changed = array.astype(np.int64)
        changed.flat[rng.randrange(array.size)] = rng.choice((-1, 2**40, 2**62, 10**6, -(2**63)))
        return changed
    if array.ndim > 1:
        return np.asfortranarray(array.reshape(array.shape[::-1]))
    return array[::-1] if array.ndim == 1 else array


def npz_structure(payload: Payload, rng: random.Random) -> Payload:
    """Change members of the archive: arrays, hand-made headers, names, versions, compression."""
    name = payload.target
    members = _read_members(payload.files[name])
    if members is None:
        return payload
    for _ in range(rng.randint(1, 3)):
        action = rng.randrange(7)
        member = rng.choice(sorted(members)) if members else "x.npy"
        if action == 0 and members:
            array = _load_npy(members[member])
            if array is not None:
                members[member] = _save_npy(_array_change(array, rng))
        elif action == 1:
            data = rng.randbytes(rng.choice((0, 4, 16, 256)))
            version = rng.choice(((1, 0), (2, 0), (3, 0), (0, 9)))
            members[member] = npy_member(
                rng.choice(_DESCRS), rng.choice(("False", "True", "'x'")), rng.choice(_SHAPES), data, version
            )
        elif action == 2 and members:
            del members[member]
        elif action == 3 and members:
            members[
                rng.choice(("x.npy", "y_train", "../x.npy", "dir/x.npy", "x_test.npy", "/abs.npy", member + ".npy"))
            ] = members.pop(member)
        elif action == 4 and members:
            data = members[member]
            members[member] = data[: rng.randrange(len(data) + 1)]  # header intact, data short (or header cut)
        elif action == 5:
            for index in range(rng.choice((10, 300))):
                members[f"extra{index}.npy"] = _save_npy(np.zeros(1, np.float32))
        else:
            members[member] = pickle.dumps(np.zeros(2), protocol=rng.choice((2, 4)))  # a bare pickle, not .npy
    return payload.with_file(name, _write_members(members, rng.random() < 0.3))


# -- CIFAR batches (pickles) ------------------------------------------------------------------------

HOSTILE_PICKLES: tuple[bytes, ...] = (
    b"cos\nsystem\n(S'exit 3'\ntR.",
    b"cbuiltins\neval\n(S'1/0'\ntR.",
    b"cposix\n_exit\n(K\x07tR.",
    b"\x80\x02cnumpy\nndarray\n(J\x00\xca\x9a;\x85tR.",  # ndarray((10**9,)) called directly
    b"\x80\x02cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\n(J\x00\xca\x9a;\x85U\x01btR.",
    b"\x80\x02cnumpy\ndtype\n(U\x0bV9999999999K\x00K\x01tR.",
    b"\x80\x04\x8e" + (2**40).to_bytes(8, "little") + b"x.",  # BINBYTES8 announcing a terabyte
    b"\x80\x02\x8b" + (2**31 - 1).to_bytes(4, "little") + b".",  # LONG4 announcing 2 GB
    b"\x80\x04\x95" + (2**40).to_bytes(8, "little") + b"}.",  # FRAME announcing a terabyte
    b"\x80\x02}r\xff\xff\xff\x7f.",  # LONG_BINPUT: memo index 2**31 - 1
    b"\x80\x02}r\x00\xe1\xf5\x05.",  # memo index 10**8
    b"\x80\x02]" + b"(" * 100_000 + b"e" * 100_000 + b".",
    b"\x80\x02" + b"]" * DEEP + b"a" * (DEEP - 1) + b".",  # 100,000 nested lists
    b"\x80\x02" + b"}" * 1 + b"U\x04data" + b"]" * DEEP + b"a" * (DEEP - 1) + b"s.",
    b"\x80\x02}(U\x04data" + b"]" * 3000 + b"a" * 2999 + b"U\x06labels]K\x01au.",
    b"\x80\x02}(U\x06labels" + b"]" * 5000 + b"a" * 4999 + b"U\x04data]u.",
    b"\x80\x02P0\n.",  # persistent id
    b"\x80\x02\x82\x01.",  # extension code
    b"\x80\x02K\x01K\x02b.",  # BUILD on an int
    b"\x80\x02}(]K\x01u.",  # a list as dict key
    b"\x80\x02ccopy_reg\n_reconstructor\n(cnumpy\nndarray\nK\x00tR.",
    b"\x80\x02cnumpy\n_reconstruct\n.",
    b"\x80\x02g99\n.",  # memo get of nothing
)
"""Pickles that call things, announce huge lengths, nest deeply or misuse opcodes."""


def _cifar_content(rng: random.Random) -> dict[Any, Any]:
    """A batch dictionary with one to three wrong entries."""
    count = rng.choice((0, 1, 2, 2, 3, 3))
    content: dict[Any, Any] = {
        b"data": np.zeros((count, 3072), np.uint8),
        b"labels": [rng.randrange(10) for _ in range(count)],
    }
    wrong: dict[str, tuple[Any, ...]] = {
        "data": (None, [1, 2], np.zeros((count, 3071), np.uint8), np.zeros((count, 3072), np.float32),
                 np.zeros((count, 3, 32, 32), np.uint8), np.zeros(3072, np.uint8), b"\x00" * 3072,
                 np.zeros((0, 3072), np.uint8), np.zeros((count, 3072), np.uint8).T),
        "labels": (None, "abc", [-1] * count, [10**9] * count, [2**62] * count, [10**30] * count, [1.5] * count,
                   [[1]] * count, {1: 2}, np.array([2**40] * count, np.uint64), np.array([7] * count, np.int8),
                   [True] * count, np.zeros((count, 2), np.int64), [2**63 + 5] * count, list(range(count + 1)),
                   np.array([2**63 + 5] * count, np.uint64), np.array([100_000] * count, np.int64)),
    }  # fmt: skip
    for _ in range(rng.choice((1, 1, 1, 2, 3))):  # mostly one wrong entry, so that the others pass
        key = rng.choice(("data", "labels"))
        content[key.encode() if rng.random() < 0.8 else key] = rng.choice(wrong[key])
    if rng.random() < 0.2:
        del content[rng.choice(sorted(content, key=repr))]
    if rng.random() < 0.1:
        content[rng.choice((1, None, (1, 2)))] = 0
    return content


def cifar_structure(payload: Payload, rng: random.Random) -> Payload:
    """Replace a batch (or the names) by a wrong one, a hostile pickle, or deeply nested data."""
    if not payload.files:
        return payload
    names = sorted(payload.files)
    name = _pick_file(payload, rng)
    action = rng.randrange(4)
    if action == 0:
        content = _cifar_content(rng)
        data = (
            pickle.dumps(content, protocol=rng.choice((2, 3, 4, 5))) if rng.random() < 0.5 else _py2_or_plain(content)
        )
        return payload.with_file(name, data)
    if action == 1:
        return payload.with_file(name, rng.choice(HOSTILE_PICKLES))
    if action == 2 and "batches.meta" in names:
        labels = rng.choice(([], [b"a"], [1, 2], None, "abc", [b"x"] * 10**5, [b"\xff\xfe"] * 10, {b"a": 1}))
        return payload.with_file("batches.meta", pickle.dumps({b"label_names": labels}, protocol=2))
    content = {b"data": np.zeros((1, 3072), np.uint8), b"labels": _nested_list(rng.choice((10, 100, 300)))}
    return payload.with_file(name, pickle.dumps(content, protocol=4) if action == 3 else python2_pickle({b"a": []}))


def _py2_or_plain(content: dict[Any, Any]) -> bytes:
    try:
        return python2_pickle(content)
    except (TypeError, struct.error):  # contents the Python 2 writer does not cover
        return pickle.dumps(content, protocol=2)


# -- IDX ----------------------------------------------------------------------------------------------


def idx_structure(payload: Payload, rng: random.Random) -> Payload:
    """Rewrite an IDX header: magic, rank, sizes (huge, zero, product overflowing), or counts that disagree."""
    candidates = [n for n in payload.files if not n.endswith(".gz")]
    if not candidates:
        return payload
    name = rng.choice(sorted(candidates))
    data = payload.files[name]
    action = rng.randrange(4)
    if action == 0:
        dims = [rng.choice((0, 1, 4, 2**16, 2**31 - 1, 2**32 - 1)) for _ in range(rng.choice((1, 3)))]
        header = bytes([0, 0, rng.choice((8, 9, 0x0B, 0x0D, 0x0E)), len(dims)])
        return payload.with_file(name, header + b"".join(d.to_bytes(4, "big") for d in dims) + data[16:])
    if action == 1:
        return payload.with_file(name, data[:2] + bytes([rng.randrange(256), rng.randrange(256)]) + data[4:])
    if action == 2:
        rng_np = np.random.default_rng(rng.randrange(2**32))
        count = rng.choice((0, 1, 5, 7, 300))
        shape = (count, rng.choice((1, 4, 28)), rng.choice((1, 4)))
        kind = rng.choice(("images", "labels"))
        array = rng_np.integers(0, 256, shape if kind == "images" else (count,))
        return payload.with_file(name, idx_bytes(array))
    return payload.with_file(name, data + rng.randbytes(rng.choice((1, 100))))


def gzip_layer(payload: Payload, rng: random.Random) -> Payload:
    """Gzip a plain file (keeping or changing its name), or hand a .gz file its data unzipped."""
    import gzip

    if not payload.files:
        return payload
    name = rng.choice(sorted(payload.files))
    data = payload.files[name]
    if name.endswith(".gz"):
        try:
            return payload.with_file(name, gzip.decompress(data))
        except (OSError, EOFError, ValueError):
            return payload
    packed = gzip.compress(data, mtime=0)
    return (
        payload.without_file(name).with_file(name + ".gz", packed)
        if rng.random() < 0.5
        else payload.with_file(name, packed)
    )


# -- images ---------------------------------------------------------------------------------------------


def _header_sizes(data: bytes, rng: random.Random) -> bytes:
    """Write a boundary width or height where each format keeps it."""
    value = rng.choice((0, 1, 0x7FFF, 0xFFFF, 0x7FFFFFFF, 0xFFFFFFFF, 0x80000000, 40_000_001, 6325, 100_000))
    if data.startswith(b"\x89PNG") and len(data) > 24:  # IHDR width, height (big-endian)
        offset = rng.choice((16, 20))
        return data[:offset] + (value & 0xFFFFFFFF).to_bytes(4, "big") + data[offset + 4 :]
    if data.startswith(b"BM") and len(data) > 26:  # BITMAPINFOHEADER width, height (signed little-endian)
        offset = rng.choice((18, 22, 28, 46))
        return data[:offset] + (value & 0xFFFFFFFF).to_bytes(4, "little") + data[offset + 4 :]
    if data.startswith(b"GIF") and len(data) > 10:  # logical screen width, height (little-endian)
        offset = rng.choice((6, 8))
        return data[:offset] + (value & 0xFFFF).to_bytes(2, "little") + data[offset + 2 :]
    if data.startswith(b"\xff\xd8"):  # JPEG: the SOF segment's height and width
        index = data.find(b"\xff\xc0")
        if index > 0:
            offset = index + rng.choice((5, 7))
            return data[:offset] + (value & 0xFFFF).to_bytes(2, "big") + data[offset + 2 :]
    if data.startswith(b"RIFF") and len(data) > 30:  # WebP VP8 frame sizes
        offset = rng.choice((26, 28))
        return data[:offset] + (value & 0xFFFF).to_bytes(2, "little") + data[offset + 2 :]
    return insert_huge_int(data, rng)


def image_header_sizes(payload: Payload, rng: random.Random) -> Payload:
    """Huge, zero or negative image sizes in headers (decompression bombs, empty images)."""
    if not payload.files:
        return payload
    name = rng.choice(sorted(payload.files))
    return payload.with_file(name, _header_sizes(payload.files[name], rng))


def image_layout(payload: Payload, rng: random.Random) -> Payload:
    """Folder layouts: one class, empty or fake images, odd modes and sizes, many files, nesting."""
    action = rng.randrange(6)
    names = sorted(payload.files)
    if not names:
        return payload
    if action == 0:
        folder = names[0].split("/")[0]
        return Payload({k: v for k, v in payload.files.items() if k.startswith(folder + "/")}, payload.target)
    if action == 1:
        return payload.with_file(
            f"{rng.choice(('cats', 'new'))}/{rng.choice(('e.png', 'f.jpg', 'g.gif'))}",
            rng.choice((b"", b"not an image", b"\x89PNG\r\n\x1a\n")),
        )
    if action == 2:
        mode = rng.choice(("L", "RGB", "RGBA"))
        size = rng.choice(((1, 1), (1, 200), (200, 1), (64, 64), (3, 9)))
        image_format = rng.choice(("PNG", "BMP", "GIF", "JPEG", "WEBP", "TIFF", "ICO", "PPM"))
        if image_format == "JPEG" and mode == "RGBA":
            mode = "RGB"
        try:
            data = image_bytes(image_format, mode, size, rng.randrange(1000))
        except (OSError, ValueError, KeyError):
            return payload
        return payload.with_file(
            f"{rng.choice(('cats', 'dogs', 'red', 'blue'))}/m.{rng.choice(('png', 'jpg', 'gif', 'bmp', 'webp'))}", data
        )
    if action == 3:
        return payload.with_file(
            f"{rng.choice(('a', 'b'))}/{rng.choice(('deep', 'x.png'))}/inner.png", payload.files[names[0]]
        )
    if action == 4:
        return payload.with_file(names[0].rsplit(".", 1)[0] + ".JPG", payload.files[rng.choice(names)])
    copies = dict(payload.files)
    for index in range(rng.choice((20, 200))):
        source = rng.choice(names)
        copies[f"{source.split('/')[0]}/copy{index}.{source.rsplit('.', 1)[-1]}"] = payload.files[source]
    return Payload(copies, payload.target)


def image_other_modes(payload: Payload, rng: random.Random) -> Payload:
    """Images in modes Pillow reads but the importer must convert: 16-bit, palette, CMYK, 1-bit, float."""
    from PIL import Image

    mode = rng.choice(("I;16", "I", "F", "P", "1", "LA", "CMYK", "I;16B", "YCbCr", "HSV"))
    image_format = rng.choice(("PNG", "TIFF", "BMP", "GIF", "WEBP", "JPEG"))
    buffer = io.BytesIO()
    try:
        Image.new(mode, rng.choice(((5, 5), (6, 5), (1, 1))), 1).save(buffer, format=image_format)
    except (OSError, ValueError, KeyError, TypeError):
        return payload
    suffix = {"PNG": "png", "TIFF": "png", "BMP": "bmp", "GIF": "gif", "WEBP": "webp", "JPEG": "jpg"}[image_format]
    return payload.with_file(f"{rng.choice(('cats', 'dogs', 'red', 'blue'))}/mode.{suffix}", buffer.getvalue())


# -- per loader ----------------------------------------------------------------------------------------

STRUCTURE_MUTATORS: dict[str, tuple[Mutator, ...]] = {
    "network_file": (
        json_structure,
        json_structure,
        json_structure,
        json_layer_graph,
        json_layer_graph,
        json_deep_nesting,
        json_text,
        json_many_layers,
    ),
    "onnx": (onnx_structure, onnx_structure, onnx_structure, onnx_deep_graphs),
    "weights": (npz_structure,),
    "dataset_idx": (idx_structure, gzip_layer, rename_file),
    "dataset_npz": (npz_structure,),
    "dataset_cifar": (cifar_structure, rename_file),
    "dataset_images": (image_header_sizes, image_layout, image_other_modes, rename_file),
}
"""Format-aware mutators of each loader."""


BYTE_SHARE = {"onnx": 0.25, "weights": 0.3, "dataset_npz": 0.3, "network_file": 0.3}
"""Share of cases with byte-level changes on top of structural ones (0.5 for loaders not named):
most byte changes break a protobuf message, a zip archive or JSON text at its first check."""
BYTE_ONLY_SHARE = 0.15
"""Share of cases made by byte-level changes alone."""


def mutate(loader: str, seeds: tuple[Payload, ...], rng: random.Random) -> Payload:
    """A malformed input for ``loader``: a seed with structural and/or byte-level changes.

    Structure first (it needs a parseable file), then sometimes bytes on top.
    """
    payload = rng.choice(seeds)
    byte_only = rng.random() < BYTE_ONLY_SHARE
    if not byte_only:
        for _ in range(rng.choice((1, 1, 2, 3))):
            payload = rng.choice(STRUCTURE_MUTATORS[loader])(payload, rng)
    if byte_only or rng.random() < BYTE_SHARE.get(loader, 0.5):
        byte_mutators = (*BYTE_MUTATORS, splice_seeds(seeds))
        for _ in range(rng.choice((1, 1, 2, 4))):
            payload = rng.choice(byte_mutators)(payload, rng)
    return payload
