"""Import an ONNX model as a Layerwise network document with its weights.

Constant sub-graphs are folded first (:mod:`core.onnx_io.folding`); every other node
is mapped onto layers by a converter for its op type. Patterns that span several
nodes are recognised: MatMul + Add → Dense, per-channel Mul/Add → Scale (or folded
into the bias of the layer before), Reshape–Transpose–Reshape → ChannelShuffle.
Ops with no layer to map to are collected, and the import is refused once, listing
all of them; nothing is returned half-done.
"""

from __future__ import annotations

import math
import os
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from google.protobuf.message import DecodeError

from core.errors import LayerwiseError
from core.graph.document import NetworkDocument, Node
from core.graph.fileformat import MAX_LAYERS
from core.graph.layout import apply_layered_layout
from core.graph.validation import check_graph
from core.window import resolve_window
from core.onnx_io.folding import FOLDERS, MAX_FOLDED_BYTES, FoldError, attributes_of, fold, tensor_array
from core.shapes import Shape, format_shape

MAX_MODEL_BYTES = 2 << 30
"""Protobuf cannot hold more in one file; larger models use external data."""
MAX_NODES = 50_000
"""More nodes are refused: real CNNs have a few thousand at most (constant sub-graphs included)."""
MAX_LISTED = 30
"""Refused nodes named in the error message; the rest are counted."""


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


def _model_tensors(model: onnx.ModelProto) -> list[onnx.TensorProto]:
    """Every tensor of ``model``: initialisers and attributes, in sub-graphs and functions too.

    A superset of what ``onnx.load_external_data_for_model`` loads, so that every external
    file it would open is one checked first. Walked iteratively, counting nodes on the
    way: graphs nested in thousands of nodes cost no more than :data:`MAX_NODES` steps.

    Raises
    ------
    OnnxImportError
        When the model holds more than :data:`MAX_NODES` nodes, sub-graphs included.
    """
    tensors: list[onnx.TensorProto] = []
    pending: list[onnx.GraphProto | onnx.FunctionProto] = [model.graph, *model.functions]
    count = 0
    while pending:
        graph = pending.pop()
        if isinstance(graph, onnx.GraphProto):
            tensors.extend(graph.initializer)
            for sparse in graph.sparse_initializer:
                tensors.extend((sparse.values, sparse.indices))
        count += len(graph.node)
        if count > MAX_NODES:
            raise OnnxImportError(f"the model has over {MAX_NODES:,} nodes (sub-graphs included); Layerwise imports fewer")
        for node in graph.node:
            for attribute in node.attribute:
                if attribute.HasField("t"):
                    tensors.append(attribute.t)
                tensors.extend(attribute.tensors)
                for sparse in [attribute.sparse_tensor, *attribute.sparse_tensors]:
                    tensors.extend((sparse.values, sparse.indices))
                if attribute.HasField("g"):
                    pending.append(attribute.g)
                pending.extend(attribute.graphs)
    return tensors


def _external_paths(model: onnx.ModelProto) -> list[str]:
    """Locations of the external data files the model's tensors name, in every sub-graph and function."""
    locations = []
    for tensor in _model_tensors(model):
        if tensor.data_location == onnx.TensorProto.EXTERNAL:
            entries = {entry.key: entry.value for entry in tensor.external_data}
            locations.append(entries.get("location", ""))
    return locations


def _check_external(path: Path, folder: Path, location: str) -> None:
    """Refuse an external data location that is empty, odd, outside ``folder`` or missing."""
    shown = repr(location if len(location) <= 100 else location[:100] + "…")
    if not location or "\x00" in location:
        raise OnnxImportError(f"{path}: external data location {shown} is not a file name")
    try:
        target = (folder / location).resolve()
        inside = folder in target.parents
        exists = inside and target.is_file()
    except (OSError, ValueError) as exc:  # names the system cannot take: too long, undecodable
        raise OnnxImportError(f"{path}: external data location {shown} cannot be used: {exc}") from None
    if not inside:
        raise OnnxImportError(f"{path}: external data {shown} lies outside the model's folder; refused")
    if not exists:
        raise OnnxImportError(f"{path}: external data file {shown} is missing")


def _check_node_count(model: onnx.ModelProto) -> None:
    count = len(model.graph.node)
    if count > MAX_NODES:
        raise OnnxImportError(f"the model has {count:,} nodes; Layerwise imports at most {MAX_NODES:,}")


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
    try:
        locations = _external_paths(model)
    except OnnxImportError as exc:  # too many nodes
        raise OnnxImportError(f"{path}: {exc}") from None
    folder = path.resolve().parent
    for location in locations:
        _check_external(path, folder, location)
    if locations:
        try:
            onnx.load_external_data_for_model(model, str(folder))
        except (OSError, ValueError, onnx.checker.ValidationError) as exc:  # onnx checks the paths again
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
        _check_node_count(model)
        self.model = model
        self.graph = model.graph
        self.opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 1)
        self.document = NetworkDocument(model.graph.name or name, f"Imported from ONNX (opset {self.opset}).")
        self.weights: dict[str, np.ndarray] = {}
        self.constants: dict[str, np.ndarray] = {}
        for tensor in self.graph.initializer:
            try:
                self.constants[tensor.name] = tensor_array(tensor)
            except FoldError as exc:
                raise OnnxImportError(f"initializer {tensor.name!r} is damaged: {exc}") from None
        self.fold_budget = MAX_FOLDED_BYTES
        self.produced = {t.name for t in self.graph.initializer} | {i.name for i in self.graph.input}
        self.tensors: dict[str, str] = {}  # ONNX tensor → id of the layer producing it
        self.shapes: dict[str, Shape] = {}
        self.shuffle: dict[str, tuple[str, str, int]] = {}  # tensor → (stage, source tensor, groups)
        self.unsupported: list[str] = []
        self.broken: set[str] = set()
        self.names: set[str] = set()  # of the layers added, see layer_name
        self.name_counts: dict[str, int] = {}
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
        """A free layer name from the node's name or output: ``conv``, ``conv_1``, ….

        Counted here: ``document.unique_name`` scans every layer for each candidate, and a
        model of thousands of nodes sharing one name would take minutes.
        """
        stem = (node.name or node.output[0]).strip()[:100].strip() or node.op_type.lower()[:100] or "layer"
        name, index = stem, self.name_counts.get(stem, 0)
        while name in self.names:
            index += 1
            name = f"{stem}_{index}"
        self.name_counts[stem] = index
        self.names.add(name)
        return name

    def add_layer(
        self,
        node: onnx.NodeProto,
        type_name: str,
        params: dict[str, Any],
        inputs: list[str],
        weights: dict[str, np.ndarray | None] | None = None,
    ) -> Node:
        """Add a layer fed by ``inputs`` (ONNX tensor names) producing ``node.output[0]``."""
        if len(self.names) >= MAX_LAYERS:
            raise OnnxImportError(
                f"the model maps to more than {MAX_LAYERS:,} layers; Layerwise holds at most that many"
            )
        try:
            layer_node = self.document.add_node(type_name, params, name=self.layer_name(node))
            for tensor in inputs:
                self.document.connect(self.tensors[tensor], layer_node.id)
        except LayerwiseError as exc:  # parameters no layer accepts, more inputs than a layer takes
            raise _Unsupported(str(exc)) from None
        try:
            shape = layer_node.layer.output_shape([self.shapes[t] for t in inputs])
        except LayerwiseError as exc:
            raise _Unsupported(str(exc)) from None
        self.tensors[node.output[0]] = layer_node.id
        self.shapes[node.output[0]] = shape
        for key, value in (weights or {}).items():
            if value is not None:
                with np.errstate(over="ignore", invalid="ignore"):
                    array = np.asarray(value, dtype=np.float32)
                if not np.all(np.isfinite(array)):
                    # No engine can compute with them; saying so now names the node at fault.
                    raise _Unsupported(f"its {key} holds NaN or infinite values (or values beyond float32)")
                self.weights[f"{layer_node.name}/{key}"] = array
        return layer_node

    def alias(self, output: str, source: str) -> None:
        self.tensors[output] = self.tensors[source]
        self.shapes[output] = self.shapes[source]

    def padding(self, attrs: dict[str, Any], shape: Shape, kernel: list[int], strides: list[int], dilations: list[int]) -> Any:
        auto_pad = _string(attrs, "auto_pad", "NOTSET")
        if auto_pad == "VALID":
            return "valid"
        if auto_pad == "SAME_UPPER":
            return "same"
        if auto_pad == "SAME_LOWER":  # the odd pixel goes first
            top, left, bottom, right = _window(shape, kernel, strides, "same", dilations).pads
            return [bottom, right, top, left]
        if auto_pad != "NOTSET":
            raise _Unsupported(f"auto_pad {auto_pad!r} is not an ONNX padding mode")
        pads = _ints(attrs, "pads", [0, 0, 0, 0], minimum=0)
        if len(pads) != 4:
            raise _Unsupported("only 2-D spatial operations are supported")
        return pads

    def spatial_shape(self, node: onnx.NodeProto) -> Shape:
        """The C×H×W shape of ``node``'s data input, which 2-D windows need."""
        shape = self.shapes[node.input[0]]
        if len(shape) != 3:
            raise _Unsupported(f"it needs a C×H×W input, got {format_shape(shape)}")
        return shape

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
        name = graph_input.name.strip()[:100].strip() or "input"
        self.names.add(name)
        try:
            node = self.document.add_node("Input", {"shape": list(shape)}, name=name)
        except LayerwiseError as exc:
            raise OnnxImportError(f"input {graph_input.name!r}: {exc}") from None
        self.tensors[graph_input.name] = node.id
        self.shapes[graph_input.name] = shape

    def _fold_shape(self, node: onnx.NodeProto) -> bool:
        """``Shape``/``Size`` of a computed tensor: constant from its known shape (batch 1)."""
        if node.op_type not in ("Shape", "Size") or not node.input or node.input[0] not in self.shapes:
            return False
        full = np.array((1, *self.shapes[node.input[0]]), dtype=np.int64)
        self.constants[node.output[0]] = full if node.op_type == "Shape" else np.array(full.prod(), dtype=np.int64)
        return True

    def run(self) -> ImportedNetwork:
        self._input()
        for node in self.graph.node:
            self._check_wiring(node)
            self._convert(node)
            self.produced.update(node.output)
        if self.unsupported:
            listing = "; ".join(self.unsupported[:MAX_LISTED])
            if len(self.unsupported) > MAX_LISTED:
                listing += f"; … and {len(self.unsupported) - MAX_LISTED:,} more"
            raise OnnxImportError(f"the model uses operations Layerwise cannot represent: {listing}")
        return self._finish()

    def _convert(self, node: onnx.NodeProto) -> None:
        """Fold ``node``, map it onto a layer, or record why it cannot be."""
        if node.domain not in ("", "ai.onnx"):
            self._refuse(node, f"domain {node.domain!r}")
            return
        inputs = [name for name in node.input if name]
        if any(name in self.broken for name in inputs):
            # Fed by a refused node: name it only if its op could never be mapped.
            if node.op_type not in CONVERTERS and node.op_type not in FOLDERS:
                self._refuse(node, "")
            self.broken.update(node.output)
            return
        needed = self._inputs_needed(node)
        if len(node.input) < needed or not all(node.input[:needed]):
            self._refuse(node, f"has {len(inputs)} inputs; {node.op_type} needs at least {needed}")
            return
        if self._fold_shape(node):
            return
        if node.op_type in FOLDERS and all(name in self.constants for name in inputs):
            self._fold(node)
            return
        converter = CONVERTERS.get(node.op_type)
        if converter is None:
            self._refuse(node, "")
            return
        try:
            self._check_data_input(node)
            converter(self, node, attributes_of(node))
        except _Unsupported as exc:
            self._refuse(node, str(exc))
        except ValueError as exc:  # attributes_of: an attribute of unknown type, or a damaged tensor
            self._refuse(node, f"has an unreadable attribute ({exc})")

    def _check_wiring(self, node: onnx.NodeProto) -> None:
        """Refuse a node without an output, or reading a tensor nothing computed before it.

        ONNX graphs list their nodes in topological order; a tensor not computed yet
        means a cycle, an unsorted graph or a missing input: the file is damaged.
        """
        if not node.output or not node.output[0]:
            raise OnnxImportError(f"node {self._label(node)} has no output")
        for name in node.input:
            if name and name not in self.produced:
                raise OnnxImportError(
                    f"node {self._label(node)} reads {name!r}, which no input, initializer or earlier node "
                    "computes (the graph has a cycle, is not in topological order, or lacks an input)"
                )

    def _inputs_needed(self, node: onnx.NodeProto) -> int:
        """How many leading inputs the importer reads for ``node``'s op (0 for ops it does not know)."""
        if node.op_type == "Slice" and self.opset < 10:  # starts and ends were attributes
            return 1
        if node.op_type in CONVERTERS or node.op_type in FOLDERS:
            return MIN_INPUTS.get(node.op_type, 1)
        return 0

    def _check_data_input(self, node: onnx.NodeProto) -> None:
        """The first input must be data computed by a layer (constants map to no layer)."""
        source = node.input[0]
        if source in self.tensors or node.op_type in CONSTANT_OPERANDS:
            return
        if source in self.shuffle and node.op_type in ("Reshape", "Transpose"):
            return
        what = "a step of a channel shuffle" if source in self.shuffle else "a constant or an unused output"
        raise _Unsupported(f"its input {source!r} is {what}, not data computed by a layer")

    def _fold(self, node: onnx.NodeProto) -> None:
        try:
            values = [self.constants[name] if name else None for name in node.input]
            outputs = fold(node, values, self.opset, self.fold_budget)
            for output, value in zip(node.output, outputs):
                self.constants[output] = value
                self.fold_budget -= value.nbytes
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            self._refuse(node, f"cannot be evaluated ({exc})")

    def _label(self, node: onnx.NodeProto) -> str:
        return f"{node.op_type} ({node.name or (node.output[0] if node.output else '?')})"

    def _refuse(self, node: onnx.NodeProto, reason: str) -> None:
        label = self._label(node)
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

MIN_INPUTS = {"Constant": 0, "Conv": 2, "Gemm": 2, "MatMul": 2, "BatchNormalization": 5, "Add": 2, "Sub": 2, "Mul": 2,
              "Div": 2, "Reshape": 2, "Gather": 2, "Slice": 3}  # fmt: skip
"""Inputs the importer reads, for the ops that need more than one (or none)."""
CONSTANT_OPERANDS = {"Add", "Sub", "Mul", "Div", "Sum", "Concat"}
"""Converters that sort out computed and constant operands themselves."""

Converter = Callable[[_Importer, onnx.NodeProto, dict[str, Any]], None]


def _shown(value: Any) -> str:
    return repr(value)[:60] if isinstance(value, (int, float, str, list, tuple)) else type(value).__name__


def _int(attrs: dict[str, Any], name: str, default: int | None = None) -> int:
    """Attribute ``name`` as an integer (``default`` when absent; required when ``None``)."""
    value = attrs.get(name, default)
    if value is None:
        raise _Unsupported(f"its attribute {name!r} is missing")
    if isinstance(value, bool) or not isinstance(value, int):
        raise _Unsupported(f"its attribute {name!r} must be an integer, got {_shown(value)}")
    return value


def _float(attrs: dict[str, Any], name: str, default: float) -> float:
    """Attribute ``name`` as a finite number (scales, rates, epsilons: NaN or infinity mean nothing)."""
    value = attrs.get(name, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise _Unsupported(f"its attribute {name!r} must be a finite number, got {_shown(value)}")
    return float(value)


def _string(attrs: dict[str, Any], name: str, default: str) -> str:
    value = attrs.get(name, default)
    if not isinstance(value, str):
        raise _Unsupported(f"its attribute {name!r} must be a string, got {_shown(value)}")
    return value


def _ints(attrs: dict[str, Any], name: str, default: Any = None, *, minimum: int | None = None) -> list[int]:
    """Attribute ``name`` as a list of integers, each at least ``minimum``."""
    value = attrs.get(name, default)
    if value is None:
        raise _Unsupported(f"its attribute {name!r} is missing")
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        raise _Unsupported(f"its attribute {name!r} must be a list of integers, got {_shown(value)}")
    if minimum is not None and any(v < minimum for v in value):
        raise _Unsupported(f"its attribute {name!r} must hold integers ≥ {minimum}, got {list(value)}")
    return [int(v) for v in value]


def _pair(attrs: dict[str, Any], name: str, default: Any = None) -> list[int]:
    """A 2-D window attribute (kernel_shape, strides, dilations): two integers ≥ 1."""
    value = _ints(attrs, name, default, minimum=1)
    if len(value) != 2:
        raise _Unsupported(f"only 2-D spatial operations are supported ({name} has {len(value)} values)")
    return value


def _window(
    shape: Shape, kernel: list[int], strides: list[int], padding: Any, dilations: list[int], layer: str = "pool"
) -> Any:
    """The window of a 2-D operation on a C×H×W input, or :class:`_Unsupported` when it does not fit."""
    try:
        return resolve_window(layer, (shape[1], shape[2]), tuple(kernel), tuple(strides), padding, tuple(dilations))
    except LayerwiseError as exc:  # the window does not fit the input
        raise _Unsupported(str(exc)) from None


def _simple(type_name: str, params: Callable[[dict[str, Any]], dict[str, Any]] = lambda attrs: {}) -> Converter:
    def convert(imp: _Importer, node: onnx.NodeProto, attrs: dict[str, Any]) -> None:
        imp.add_layer(node, type_name, params(attrs), [node.input[0]])

    return convert


def _conv(imp: _Importer, node: onnx.NodeProto, attrs: dict[str, Any]) -> None:
    weight = imp.require_constant(node.input[1], "weight")
    if weight.ndim != 4:
        raise _Unsupported("only 2-D convolutions are supported")
    bias = imp.constant(node.input[2]) if len(node.input) > 2 else None
    kernel = _pair(attrs, "kernel_shape", list(weight.shape[2:]))
    strides, dilations = _pair(attrs, "strides", [1, 1]), _pair(attrs, "dilations", [1, 1])
    params = {
        "filters": int(weight.shape[0]),
        "kernel_size": kernel,
        "stride": strides,
        "padding": imp.padding(attrs, imp.spatial_shape(node), kernel, strides, dilations),
        "dilation": dilations,
        "groups": _int(attrs, "group", 1),
        "bias": bias is not None,
    }
    imp.add_layer(node, "Conv2D", params, [node.input[0]], {"weight": weight, "bias": bias})


def _pool(type_name: str) -> Converter:
    def convert(imp: _Importer, node: onnx.NodeProto, attrs: dict[str, Any]) -> None:
        if len(node.output) > 1 and imp.uses[node.output[1]]:
            raise _Unsupported("its Indices output is used")
        if any(d != 1 for d in _ints(attrs, "dilations", [1, 1])):
            raise _Unsupported("dilated pooling is not supported")
        shape = imp.spatial_shape(node)
        kernel = _pair(attrs, "kernel_shape")
        strides = _pair(attrs, "strides", [1, 1])
        padding = imp.padding(attrs, shape, kernel, strides, [1, 1])
        explicit = padding if isinstance(padding, str) else tuple(padding)
        window = _window(shape, kernel, strides, explicit, [1, 1], type_name)
        pads = list(window.pads)
        if _int(attrs, "ceil_mode", 0):
            # ONNX keeps a last window that starts in the padding; express its output size
            # as floor mode with extra padding at the end.
            for axis, size in enumerate((shape[1], shape[2])):
                begin, end = pads[axis], pads[axis + 2]
                out = -(-(size + begin + end - kernel[axis]) // strides[axis]) + 1
                pads[axis + 2] += max((out - 1) * strides[axis] + kernel[axis] - (size + begin + end), 0)
        params: dict[str, Any] = {"pool_size": kernel, "stride": strides, "padding": pads}
        if type_name == "AvgPool2D":
            params["count_include_pad"] = bool(_int(attrs, "count_include_pad", 0))
        imp.add_layer(node, type_name, params, [node.input[0]])

    return convert


def _batch_norm(imp: _Importer, node: onnx.NodeProto, attrs: dict[str, Any]) -> None:
    if _int(attrs, "training_mode", 0):
        raise _Unsupported("training_mode=1 is not an inference graph")
    scale, bias, mean, var = (imp.require_constant(name, "statistics and parameters") for name in node.input[1:5])
    params = {"epsilon": _float(attrs, "epsilon", 1e-5), "momentum": _float(attrs, "momentum", 0.9)}
    weights = {"gamma": scale, "beta": bias, "running_mean": mean, "running_var": var}
    imp.add_layer(node, "BatchNorm", params, [node.input[0]], weights)


def _gemm(imp: _Importer, node: onnx.NodeProto, attrs: dict[str, Any]) -> None:
    if _int(attrs, "transA", 0):
        raise _Unsupported("transA=1 is not supported")
    matrix = imp.require_constant(node.input[1], "B matrix")
    if matrix.ndim != 2:
        raise _Unsupported(f"its B matrix has {matrix.ndim} dimensions, not 2")
    alpha, beta = _float(attrs, "alpha", 1.0), _float(attrs, "beta", 1.0)
    # Non-finite products are refused with the weights (they must be finite); no warning on the way.
    with np.errstate(over="ignore", invalid="ignore"):
        weight = (matrix if _int(attrs, "transB", 0) else matrix.T) * alpha
    bias = imp.constant(node.input[2]) if len(node.input) > 2 else None
    if bias is not None:
        with np.errstate(over="ignore", invalid="ignore"):
            bias = np.asarray(bias, np.float32).reshape(-1) * beta
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
    axis = _int(attrs, "axis", 1 if imp.opset < 13 else -1) % rank
    # Before opset 13, Softmax normalises over every axis from `axis` on.
    covers_all = imp.opset < 13 and axis == 1
    per_feature = rank == 2 and axis == 1
    per_pixel = rank == 4 and axis == 1 and (imp.opset >= 13 or shape[1:] == (1, 1))
    if not (per_feature or per_pixel or (covers_all and rank == 2)):
        raise _Unsupported(f"softmax over axis {axis} of a {format_shape(shape)} tensor (opset {imp.opset}) has no layer")
    imp.add_layer(node, "Softmax", {}, [node.input[0]])


def _dropout(imp: _Importer, node: onnx.NodeProto, attrs: dict[str, Any]) -> None:
    rate = _float(attrs, "ratio", 0.5)
    if imp.opset >= 12 and len(node.input) > 1 and node.input[1]:
        ratio = imp.require_constant(node.input[1], "ratio")
        if ratio.size != 1 or ratio.dtype.kind not in "biuf":
            raise _Unsupported(f"its ratio must be one number, got {ratio.size} values")
        rate = float(ratio.reshape(-1)[0])
    imp.add_layer(node, "Dropout", {"rate": min(float(rate), 0.999)}, [node.input[0]])


def _concat(imp: _Importer, node: onnx.NodeProto, attrs: dict[str, Any]) -> None:
    inputs = [name for name in node.input if name]
    rank = len(imp.shapes[inputs[0]]) + 1 if inputs[0] in imp.shapes else 0
    if not all(name in imp.tensors for name in inputs) or _int(attrs, "axis", 1) % max(rank, 1) != 1:
        raise _Unsupported("only concatenation of computed tensors along channels is supported")
    imp.add_layer(node, "Concat", {}, inputs)


def _flatten(imp: _Importer, node: onnx.NodeProto, attrs: dict[str, Any]) -> None:
    if _int(attrs, "axis", 1) != 1:
        raise _Unsupported("only axis=1 (keep the batch) is supported")
    imp.add_layer(node, "Flatten", {}, [node.input[0]])


def _reshape(imp: _Importer, node: onnx.NodeProto, attrs: dict[str, Any]) -> None:
    source = node.input[0]
    constant = imp.require_constant(node.input[1], "target shape")
    if constant.ndim != 1 or constant.dtype.kind not in "iu" or constant.size > 8:
        got = f"{constant.dtype} {list(constant.shape)}"
        raise _Unsupported(f"its target shape must be a short vector of integers, got {got}")
    target = [int(d) for d in constant]
    if source in imp.shuffle:
        stage, origin, groups = imp.shuffle[source]
        if stage == "swapped" and len(target) == 4:
            imp.add_layer(node, "ChannelShuffle", {"groups": groups}, [origin])
            return
        raise _Unsupported("a 5-D reshape that is not a channel shuffle")
    shape = (1, *imp.shapes[source])
    allowzero = _int(attrs, "allowzero", 0)
    if any(i >= len(shape) for i, d in enumerate(target) if d == 0 and not allowzero):
        raise _Unsupported(f"target {target} copies a dimension a {format_shape(imp.shapes[source])} tensor lacks")
    resolved = [shape[i] if d == 0 and not allowzero else d for i, d in enumerate(target)]
    if -1 in resolved:
        # math.prod on Python ints: np.prod would wrap around on huge targets.
        known = math.prod(d for d in resolved if d != -1)
        resolved[resolved.index(-1)] = math.prod(shape) // max(known, 1)
    if any(d < 0 for d in resolved) or math.prod(resolved) != math.prod(shape):
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
    if imp.shuffle.get(source, ("",))[0] == "grouped" and _ints(attrs, "perm", []) == [0, 2, 1, 3, 4]:
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
    "LRN": _simple(
        "LRN",
        lambda a: {"size": _int(a, "size"), "alpha": _float(a, "alpha", 1e-4), "beta": _float(a, "beta", 0.75),
                   "bias": _float(a, "bias", 1.0)},  # fmt: skip
    ),
    "Relu": _simple("ReLU"),
    "LeakyRelu": _simple("LeakyReLU", lambda a: {"alpha": _float(a, "alpha", 0.01)}),
    "Sigmoid": _simple("Sigmoid"),
    "Tanh": _simple("Tanh"),
    "Elu": _simple("ELU", lambda a: {"alpha": _float(a, "alpha", 1.0)}),
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
