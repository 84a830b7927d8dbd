"""Import an ONNX model as a Layerwise network document with its weights.

Constant sub-graphs are folded first (:mod:`core.onnx_io.folding`); every other node
is mapped onto layers by a converter for its op type. Patterns that span several
nodes are recognised: MatMul + Add → Dense, per-channel Mul/Add → Scale (or folded
into the bias of the layer before), Reshape–Transpose–Reshape → ChannelShuffle.
Ops with no layer to map to are collected, and the import is refused once, listing
all of them; nothing is returned half-done.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from google.protobuf.message import DecodeError
from onnx import numpy_helper

from core.errors import LayerwiseError
from core.graph.document import NetworkDocument, Node
from core.graph.layout import apply_layered_layout
from core.graph.validation import check_graph
from core.layers.spatial import resolve_window
from core.onnx_io.folding import FOLDERS, attributes_of, fold
from core.shapes import Shape, format_shape

MAX_MODEL_BYTES = 2 << 30
"""Protobuf cannot hold more in one file; larger models use external data."""


class OnnxImportError(LayerwiseError):
    """The model cannot be read, or holds operations Layerwise cannot represent."""


class _Unsupported(Exception):
    """A node whose op exists in the importer but not in this form (raised by converters)."""


@dataclass
class ImportedNetwork:
    """The result of an import: the document and its weights keyed ``"layer/param"``."""

    document: NetworkDocument
    weights: dict[str, np.ndarray] = field(default_factory=dict)


# -- reading files safely ------------------------------------------------------------


def _external_paths(model: onnx.ModelProto) -> list[str]:
    locations = []
    tensors = list(model.graph.initializer)
    for node in model.graph.node:
        tensors.extend(a.t for a in node.attribute if a.type == onnx.AttributeProto.TENSOR)
    for tensor in tensors:
        if tensor.data_location == onnx.TensorProto.EXTERNAL:
            entries = {entry.key: entry.value for entry in tensor.external_data}
            locations.append(entries.get("location", ""))
    return locations


def load_onnx_model(path: str | os.PathLike[str]) -> onnx.ModelProto:
    """Read an ``.onnx`` file, refusing external data that points outside its folder.

    Raises
    ------
    OnnxImportError
        Naming the file and the reason (unreadable, not ONNX, unsafe or missing data).
    """
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise OnnxImportError(f"{path}: cannot be read: {exc.strerror or exc}") from None
    if size > MAX_MODEL_BYTES:
        raise OnnxImportError(f"{path}: is {size / 2**30:.1f} GB; ONNX files are at most 2 GB (larger models keep weights in external data)")
    try:
        model = onnx.load(str(path), load_external_data=False)
    except (DecodeError, ValueError, RuntimeError, OSError) as exc:
        raise OnnxImportError(f"{path}: is not a valid ONNX model ({type(exc).__name__}: {exc})") from None
    if not model.graph.node:
        raise OnnxImportError(f"{path}: is not an ONNX model with a graph (no nodes found)")
    folder = path.resolve().parent
    for location in _external_paths(model):
        target = (folder / location).resolve()
        if not location or folder not in target.parents:
            raise OnnxImportError(f"{path}: external data {location!r} lies outside the model's folder; refused")
        if not target.is_file():
            raise OnnxImportError(f"{path}: external data file {location!r} is missing")
    if _external_paths(model):
        try:
            onnx.load_external_data_for_model(model, str(folder))
        except (OSError, ValueError) as exc:
            raise OnnxImportError(f"{path}: external data cannot be read: {exc}") from None
    return model


def import_onnx(path: str | os.PathLike[str]) -> ImportedNetwork:
    """Read and import an ``.onnx`` file; errors name the file."""
    model = load_onnx_model(path)
    try:
        return import_model(model, Path(path).stem)
    except OnnxImportError as exc:
        raise OnnxImportError(f"{path}: {exc}") from None


def import_model(model: onnx.ModelProto, name: str = "imported") -> ImportedNetwork:
    """Turn an ONNX model into a network document and its weights."""
    return _Importer(model, name).run()


# -- the importer ----------------------------------------------------------------------


class _Importer:
    def __init__(self, model: onnx.ModelProto, name: str) -> None:
        self.model = model
        self.graph = model.graph
        self.opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 1)
        self.document = NetworkDocument(model.graph.name or name, f"Imported from ONNX (opset {self.opset}).")
        self.weights: dict[str, np.ndarray] = {}
        self.constants: dict[str, np.ndarray] = {t.name: numpy_helper.to_array(t) for t in self.graph.initializer}
        self.tensors: dict[str, str] = {}  # ONNX tensor → id of the layer producing it
        self.shapes: dict[str, Shape] = {}
        self.shuffle: dict[str, tuple[str, str, int]] = {}  # tensor → (stage, source tensor, groups)
        self.unsupported: list[str] = []
        self.broken: set[str] = set()
        self.uses = Counter(name for node in self.graph.node for name in node.input if name)
        self.uses.update(output.name for output in self.graph.output)

    # helpers for converters --------------------------------------------------------

    def constant(self, tensor: str) -> np.ndarray | None:
        return self.constants.get(tensor) if tensor else None

    def require_constant(self, tensor: str, what: str) -> np.ndarray:
        value = self.constant(tensor)
        if value is None:
            raise _Unsupported(f"its {what} must be constant")
        return value

    def producer(self, tensor: str) -> Node:
        return self.document.node(self.tensors[tensor])

    def layer_name(self, node: onnx.NodeProto) -> str:
        candidate = (node.name or node.output[0] or node.op_type.lower()).strip()[:100] or node.op_type.lower()
        return self.document.unique_name(candidate)

    def add_layer(
        self,
        node: onnx.NodeProto,
        type_name: str,
        params: dict[str, Any],
        inputs: list[str],
        weights: dict[str, np.ndarray | None] | None = None,
    ) -> Node:
        """Add a layer fed by ``inputs`` (ONNX tensor names) producing ``node.output[0]``."""
        layer_node = self.document.add_node(type_name, params, name=self.layer_name(node))
        for tensor in inputs:
            self.document.connect(self.tensors[tensor], layer_node.id)
        try:
            shape = layer_node.layer.output_shape([self.shapes[t] for t in inputs])
        except LayerwiseError as exc:
            raise _Unsupported(str(exc)) from None
        self.tensors[node.output[0]] = layer_node.id
        self.shapes[node.output[0]] = shape
        for key, value in (weights or {}).items():
            if value is not None:
                self.weights[f"{layer_node.name}/{key}"] = np.asarray(value, dtype=np.float32)
        return layer_node

    def alias(self, output: str, source: str) -> None:
        self.tensors[output] = self.tensors[source]
        self.shapes[output] = self.shapes[source]

    def padding(self, attrs: dict[str, Any], shape: Shape, kernel: list[int], strides: list[int], dilations: list[int]) -> Any:
        auto_pad = attrs.get("auto_pad", "NOTSET")
        if auto_pad == "VALID":
            return "valid"
        if auto_pad == "SAME_UPPER":
            return "same"
        if auto_pad == "SAME_LOWER":  # the odd pixel goes first
            window = resolve_window("pool", (shape[1], shape[2]), tuple(kernel), tuple(strides), "same", tuple(dilations))
            top, left, bottom, right = window.pads
            return [bottom, right, top, left]
        pads = list(attrs.get("pads", [0, 0, 0, 0]))
        if len(pads) != 4:
            raise _Unsupported("only 2-D spatial operations are supported")
        return pads

    def per_channel(self, value: np.ndarray, shape: Shape) -> np.ndarray | None:
        """``value`` as one number per channel (or feature) of ``shape``, if it broadcasts that way."""
        channels = shape[0]
        if value.size == 1:
            return np.full(channels, float(value.reshape(-1)[0]), np.float32)
        squeezed = value
        while squeezed.ndim > 1 and squeezed.shape[0] == 1:  # leading broadcast axes: (1, C, 1, 1) → (C, 1, 1)
            squeezed = squeezed[0]
        if len(shape) == 3 and squeezed.shape == (channels, 1, 1):
            return squeezed.reshape(channels)
        if len(shape) == 1 and squeezed.shape == (channels,):
            return squeezed
        return None

    # the walk -----------------------------------------------------------------------

    def _input(self) -> None:
        produced = {name for node in self.graph.node for name in node.output}
        inputs = [i for i in self.graph.input if i.name not in self.constants and i.name not in produced]
        if len(inputs) != 1:
            names = ", ".join(repr(i.name) for i in inputs) or "none"
            raise OnnxImportError(f"the model has {len(inputs)} data inputs ({names}); Layerwise networks have exactly one")
        graph_input = inputs[0]
        dims = graph_input.type.tensor_type.shape.dim
        sizes = [d.dim_value if d.HasField("dim_value") else None for d in dims]
        if len(sizes) not in (2, 4) or any(s is None or s < 1 for s in sizes[1:]):
            shown = ["?" if s is None else str(s) for s in sizes]
            raise OnnxImportError(
                f"input {graph_input.name!r} has shape [{', '.join(shown)}]; Layerwise needs N×C×H×W or N×features with fixed sizes"
            )
        shape = tuple(int(s) for s in sizes[1:])
        node = self.document.add_node("Input", {"shape": list(shape)}, name=self.document.unique_name(graph_input.name.strip() or "input"))
        self.tensors[graph_input.name] = node.id
        self.shapes[graph_input.name] = shape

    def _fold_shape(self, node: onnx.NodeProto) -> bool:
        """``Shape``/``Size`` of a computed tensor: constant from its known shape (batch 1)."""
        if node.op_type not in ("Shape", "Size") or node.input[0] not in self.shapes:
            return False
        full = np.array((1, *self.shapes[node.input[0]]), dtype=np.int64)
        self.constants[node.output[0]] = full if node.op_type == "Shape" else np.array(full.prod(), dtype=np.int64)
        return True

    def run(self) -> ImportedNetwork:
        self._input()
        for node in self.graph.node:
            if node.domain not in ("", "ai.onnx"):
                self._refuse(node, f"domain {node.domain!r}")
                continue
            inputs = [name for name in node.input if name]
            if any(name in self.broken for name in inputs):
                # Fed by a refused node: name it only if its op could never be mapped.
                if node.op_type not in CONVERTERS and node.op_type not in FOLDERS:
                    self._refuse(node, "")
                self.broken.update(node.output)
                continue
            if self._fold_shape(node):
                continue
            if node.op_type in FOLDERS and all(name in self.constants for name in inputs):
                try:
                    for output, value in zip(node.output, fold(node, [self.constants[n] for n in node.input], self.opset)):
                        self.constants[output] = value
                except (ValueError, KeyError, IndexError, TypeError) as exc:
                    self._refuse(node, f"cannot be evaluated ({exc})")
                continue
            converter = CONVERTERS.get(node.op_type)
            if converter is None:
                self._refuse(node, "")
                continue
            try:
                converter(self, node, attributes_of(node))
            except _Unsupported as exc:
                self._refuse(node, str(exc))
        if self.unsupported:
            listing = "; ".join(self.unsupported)
            raise OnnxImportError(f"the model uses operations Layerwise cannot represent: {listing}")
        return self._finish()

    def _refuse(self, node: onnx.NodeProto, reason: str) -> None:
        label = f"{node.op_type} ({node.name or node.output[0]})"
        self.unsupported.append(f"{label}: {reason}" if reason else label)
        self.broken.update(node.output)

    def _finish(self) -> ImportedNetwork:
        if len(self.graph.output) != 1:
            names = ", ".join(repr(o.name) for o in self.graph.output)
            raise OnnxImportError(f"the model has {len(self.graph.output)} outputs ({names}); Layerwise networks have exactly one")
        output = self.graph.output[0].name
        if output not in self.tensors or output in self.shuffle:
            raise OnnxImportError(f"the model's output {output!r} is not computed by a layer Layerwise can represent")
        self._prune(self.tensors[output])
        problems = check_graph(self.document).problems
        if problems:
            raise OnnxImportError("the imported network does not compute: " + "; ".join(map(str, problems)))
        apply_layered_layout(self.document)
        kept = {n.name for n in self.document.nodes}
        weights = {k: v for k, v in self.weights.items() if k.split("/", 1)[0] in kept}
        return ImportedNetwork(self.document, weights)

    def _prune(self, output_id: str) -> None:
        """Drop layers whose results never reach the output (unused side branches)."""
        needed, stack = set(), [output_id]
        while stack:
            current = stack.pop()
            if current not in needed:
                needed.add(current)
                stack.extend(e.source for e in self.document.input_edges(current))
        for node in list(self.document.nodes):
            if node.id not in needed:
                self.document.remove_node(node.id)


# -- converters: one per ONNX op type ----------------------------------------------------

Converter = Callable[[_Importer, onnx.NodeProto, dict[str, Any]], None]


def _simple(type_name: str, params: Callable[[dict[str, Any]], dict[str, Any]] = lambda attrs: {}) -> Converter:
    def convert(imp: _Importer, node: onnx.NodeProto, attrs: dict[str, Any]) -> None:
        imp.add_layer(node, type_name, params(attrs), [node.input[0]])

    return convert


def _conv(imp: _Importer, node: onnx.NodeProto, attrs: dict[str, Any]) -> None:
    weight = imp.require_constant(node.input[1], "weight")
    if weight.ndim != 4:
        raise _Unsupported("only 2-D convolutions are supported")
    bias = imp.constant(node.input[2]) if len(node.input) > 2 else None
    kernel = list(attrs.get("kernel_shape", weight.shape[2:]))
    strides, dilations = list(attrs.get("strides", [1, 1])), list(attrs.get("dilations", [1, 1]))
    params = {
        "filters": int(weight.shape[0]),
        "kernel_size": kernel,
        "stride": strides,
        "padding": imp.padding(attrs, imp.shapes[node.input[0]], kernel, strides, dilations),
        "dilation": dilations,
        "groups": int(attrs.get("group", 1)),
        "bias": bias is not None,
    }
    imp.add_layer(node, "Conv2D", params, [node.input[0]], {"weight": weight, "bias": bias})


def _pool(type_name: str) -> Converter:
    def convert(imp: _Importer, node: onnx.NodeProto, attrs: dict[str, Any]) -> None:
        if len(node.output) > 1 and imp.uses[node.output[1]]:
            raise _Unsupported("its Indices output is used")
        if any(d != 1 for d in attrs.get("dilations", [1, 1])):
            raise _Unsupported("dilated pooling is not supported")
        shape = imp.shapes[node.input[0]]
        kernel = list(attrs["kernel_shape"])
        strides = list(attrs.get("strides", [1, 1]))
        padding = imp.padding(attrs, shape, kernel, strides, [1, 1])
        window = resolve_window(type_name, (shape[1], shape[2]), tuple(kernel), tuple(strides), padding if isinstance(padding, str) else tuple(padding))
        pads = list(window.pads)
        if attrs.get("ceil_mode", 0):
            # ONNX keeps a last window that starts in the padding; express its output size
            # as floor mode with extra padding at the end.
            for axis, size in enumerate((shape[1], shape[2])):
                begin, end = pads[axis], pads[axis + 2]
                out = -(-(size + begin + end - kernel[axis]) // strides[axis]) + 1
                pads[axis + 2] += max((out - 1) * strides[axis] + kernel[axis] - (size + begin + end), 0)
        params: dict[str, Any] = {"pool_size": kernel, "stride": strides, "padding": pads}
        if type_name == "AvgPool2D":
            params["count_include_pad"] = bool(attrs.get("count_include_pad", 0))
        imp.add_layer(node, type_name, params, [node.input[0]])

    return convert


def _batch_norm(imp: _Importer, node: onnx.NodeProto, attrs: dict[str, Any]) -> None:
    if attrs.get("training_mode", 0):
        raise _Unsupported("training_mode=1 is not an inference graph")
    scale, bias, mean, var = (imp.require_constant(name, "statistics and parameters") for name in node.input[1:5])
    params = {"epsilon": float(attrs.get("epsilon", 1e-5)), "momentum": float(attrs.get("momentum", 0.9))}
    weights = {"gamma": scale, "beta": bias, "running_mean": mean, "running_var": var}
    imp.add_layer(node, "BatchNorm", params, [node.input[0]], weights)


def _gemm(imp: _Importer, node: onnx.NodeProto, attrs: dict[str, Any]) -> None:
    if attrs.get("transA", 0):
        raise _Unsupported("transA=1 is not supported")
    matrix = imp.require_constant(node.input[1], "B matrix")
    weight = (matrix if attrs.get("transB", 0) else matrix.T) * attrs.get("alpha", 1.0)
    bias = imp.constant(node.input[2]) if len(node.input) > 2 else None
    if bias is not None:
        bias = np.asarray(bias, np.float32).reshape(-1) * attrs.get("beta", 1.0)
        if bias.size not in (1, weight.shape[0]):
            raise _Unsupported(f"a bias of {bias.size} values for {weight.shape[0]} outputs")
        bias = np.broadcast_to(bias, (weight.shape[0],)).copy()
    params = {"units": int(weight.shape[0]), "bias": bias is not None}
    imp.add_layer(node, "Dense", params, [node.input[0]], {"weight": weight, "bias": bias})


def _matmul(imp: _Importer, node: onnx.NodeProto, attrs: dict[str, Any]) -> None:
    matrix = imp.require_constant(node.input[1], "second operand")
    if matrix.ndim != 2:
        raise _Unsupported("only a 2-D constant right operand maps to Dense")
    imp.add_layer(node, "Dense", {"units": int(matrix.shape[1]), "bias": False}, [node.input[0]], {"weight": matrix.T})


def _constant_operand(imp: _Importer, node: onnx.NodeProto) -> tuple[str, np.ndarray] | None:
    left, right = node.input[0], node.input[1]
    if imp.constant(right) is not None and left in imp.tensors:
        return left, imp.constants[right]
    if imp.constant(left) is not None and right in imp.tensors and node.op_type in ("Add", "Mul"):
        return right, imp.constants[left]
    return None


def _affine(imp: _Importer, node: onnx.NodeProto, attrs: dict[str, Any]) -> None:
    """Add/Sub/Mul/Div with a per-channel constant: a bias, or a Scale layer."""
    operands = _constant_operand(imp, node)
    if operands is None:
        if node.op_type == "Add" and all(name in imp.tensors for name in node.input):
            if imp.shapes[node.input[0]] != imp.shapes[node.input[1]]:
                raise _Unsupported("broadcasting between computed tensors is not supported")
            imp.add_layer(node, "Add", {}, list(node.input))
            return
        raise _Unsupported("only a per-channel constant operand is supported")
    source, value = operands
    vector = imp.per_channel(np.asarray(value, np.float32), imp.shapes[source])
    if vector is None:
        raise _Unsupported(f"a constant of shape {list(value.shape)} is not per channel of a {format_shape(imp.shapes[source])} tensor")
    additive = node.op_type in ("Add", "Sub")
    vector = {"Add": vector, "Sub": -vector, "Mul": vector, "Div": 1 / vector}[node.op_type]
    producer = imp.producer(source)
    single_use = imp.uses[source] == 1
    if additive and single_use and producer.type_name in ("Dense", "Conv2D") and not producer.layer.params["bias"]:
        imp.document.set_param(producer.id, "bias", True)
        imp.weights[f"{producer.name}/bias"] = vector
        imp.alias(node.output[0], source)
    elif single_use and producer.type_name == "Scale":
        gamma, beta = imp.weights[f"{producer.name}/gamma"], imp.weights[f"{producer.name}/beta"]
        if additive:
            imp.weights[f"{producer.name}/beta"] = beta + vector
        else:
            imp.weights[f"{producer.name}/gamma"], imp.weights[f"{producer.name}/beta"] = gamma * vector, beta * vector
        imp.alias(node.output[0], source)
    else:
        ones, zeros = np.ones_like(vector), np.zeros_like(vector)
        weights = {"gamma": ones, "beta": vector} if additive else {"gamma": vector, "beta": zeros}
        imp.add_layer(node, "Scale", {}, [source], weights)


def _sum(imp: _Importer, node: onnx.NodeProto, attrs: dict[str, Any]) -> None:
    inputs = [name for name in node.input if name]
    if not all(name in imp.tensors for name in inputs):
        raise _Unsupported("constant operands are not supported")
    if len(inputs) == 1:
        imp.alias(node.output[0], inputs[0])
    else:
        imp.add_layer(node, "Add", {}, inputs)


def _softmax(imp: _Importer, node: onnx.NodeProto, attrs: dict[str, Any]) -> None:
    shape = imp.shapes[node.input[0]]
    rank = len(shape) + 1
    axis = attrs.get("axis", 1 if imp.opset < 13 else -1) % rank
    # Before opset 13, Softmax normalises over every axis from `axis` on.
    covers_all = imp.opset < 13 and axis == 1
    per_feature = rank == 2 and axis == 1
    per_pixel = rank == 4 and axis == 1 and (imp.opset >= 13 or shape[1:] == (1, 1))
    if not (per_feature or per_pixel or (covers_all and rank == 2)):
        raise _Unsupported(f"softmax over axis {axis} of a {format_shape(shape)} tensor (opset {imp.opset}) has no layer")
    imp.add_layer(node, "Softmax", {}, [node.input[0]])


def _dropout(imp: _Importer, node: onnx.NodeProto, attrs: dict[str, Any]) -> None:
    rate = attrs.get("ratio", 0.5)
    if imp.opset >= 12 and len(node.input) > 1 and node.input[1]:
        rate = float(imp.require_constant(node.input[1], "ratio"))
    imp.add_layer(node, "Dropout", {"rate": min(float(rate), 0.999)}, [node.input[0]])


def _concat(imp: _Importer, node: onnx.NodeProto, attrs: dict[str, Any]) -> None:
    inputs = [name for name in node.input if name]
    rank = len(imp.shapes[inputs[0]]) + 1 if inputs[0] in imp.shapes else 0
    if not all(name in imp.tensors for name in inputs) or attrs.get("axis", 1) % max(rank, 1) != 1:
        raise _Unsupported("only concatenation of computed tensors along channels is supported")
    imp.add_layer(node, "Concat", {}, inputs)


def _flatten(imp: _Importer, node: onnx.NodeProto, attrs: dict[str, Any]) -> None:
    if attrs.get("axis", 1) != 1:
        raise _Unsupported("only axis=1 (keep the batch) is supported")
    imp.add_layer(node, "Flatten", {}, [node.input[0]])


def _reshape(imp: _Importer, node: onnx.NodeProto, attrs: dict[str, Any]) -> None:
    source = node.input[0]
    target = [int(d) for d in imp.require_constant(node.input[1], "target shape")]
    if source in imp.shuffle:
        stage, origin, groups = imp.shuffle[source]
        if stage == "swapped" and len(target) == 4:
            imp.add_layer(node, "ChannelShuffle", {"groups": groups}, [origin])
            return
        raise _Unsupported("a 5-D reshape that is not a channel shuffle")
    shape = (1, *imp.shapes[source])
    resolved = [shape[i] if d == 0 and not attrs.get("allowzero") else d for i, d in enumerate(target)]
    if -1 in resolved:
        known = int(np.prod([d for d in resolved if d != -1]))
        resolved[resolved.index(-1)] = int(np.prod(shape)) // max(known, 1)
    if int(np.prod(resolved)) != int(np.prod(shape)):
        raise _Unsupported(f"target {target} does not fit a {format_shape(imp.shapes[source])} tensor")
    if len(resolved) == 2 and resolved[0] == 1:
        if len(shape) == 2:
            imp.alias(node.output[0], source)
        else:
            imp.add_layer(node, "Flatten", {}, [source])
        return
    if len(resolved) == 5 and len(shape) == 4 and resolved[3:] == list(shape[2:]) and resolved[1] * resolved[2] == shape[1]:
        imp.shuffle[node.output[0]] = ("grouped", source, resolved[1])
        return
    raise _Unsupported(f"reshape of a {format_shape(imp.shapes[source])} tensor to {target}")


def _transpose(imp: _Importer, node: onnx.NodeProto, attrs: dict[str, Any]) -> None:
    source = node.input[0]
    if imp.shuffle.get(source, ("",))[0] == "grouped" and list(attrs.get("perm", [])) == [0, 2, 1, 3, 4]:
        _, origin, groups = imp.shuffle[source]
        imp.shuffle[node.output[0]] = ("swapped", origin, groups)
        return
    raise _Unsupported("only the transpose of a channel shuffle is supported")


def _squeeze(imp: _Importer, node: onnx.NodeProto, attrs: dict[str, Any]) -> None:
    shape = imp.shapes[node.input[0]]
    if len(shape) == 3 and shape[1:] == (1, 1):
        imp.add_layer(node, "Flatten", {}, [node.input[0]])
        return
    raise _Unsupported(f"squeezing a {format_shape(shape)} tensor")


def _identity(imp: _Importer, node: onnx.NodeProto, attrs: dict[str, Any]) -> None:
    imp.alias(node.output[0], node.input[0])


CONVERTERS: dict[str, Converter] = {
    "Conv": _conv,
    "MaxPool": _pool("MaxPool2D"),
    "AveragePool": _pool("AvgPool2D"),
    "GlobalAveragePool": _simple("GlobalAvgPool2D", lambda attrs: {"keepdims": True}),
    "BatchNormalization": _batch_norm,
    "LRN": _simple("LRN", lambda a: {"size": a["size"], "alpha": a.get("alpha", 1e-4), "beta": a.get("beta", 0.75), "bias": a.get("bias", 1.0)}),
    "Relu": _simple("ReLU"),
    "LeakyRelu": _simple("LeakyReLU", lambda a: {"alpha": a.get("alpha", 0.01)}),
    "Sigmoid": _simple("Sigmoid"),
    "Tanh": _simple("Tanh"),
    "Elu": _simple("ELU", lambda a: {"alpha": a.get("alpha", 1.0)}),
    "Softmax": _softmax,
    "Dropout": _dropout,
    "Gemm": _gemm,
    "MatMul": _matmul,
    "Add": _affine,
    "Sub": _affine,
    "Mul": _affine,
    "Div": _affine,
    "Sum": _sum,
    "Concat": _concat,
    "Flatten": _flatten,
    "Reshape": _reshape,
    "Transpose": _transpose,
    "Squeeze": _squeeze,
    "Identity": _identity,
}
