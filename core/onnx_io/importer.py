"""Import an ONNX model as a Layerwise network document with its weights.

Constant sub-graphs are folded first (:mod:`core.onnx_io.folding`); every other node is
mapped onto layers by the converters and pattern rules that the layer modules register
(:mod:`core.layers.onnx_reader`), which this importer serves as their
:class:`~core.layers.onnx_reader.OnnxReader`. Nodes are visited in topological order; one
that nothing maps on its own stays pending, since a pattern rule at a later node may take
it in (Reshape → Transpose → Reshape is a ChannelShuffle). Whatever is still pending at the
end is refused once, counting and listing every such node; nothing is returned half-done.

Layers keep the names of their nodes (``/conv1/Conv`` stays ``/conv1/Conv``): a name is
changed only when another layer has it already, or when the document cannot hold it (only
spaces, control characters, too long); each change is one of the import's notes.

A model Layerwise exported with an input preprocessing says so in its metadata
(``layerwise.preprocessing``, see :mod:`core.onnx_io.export`); the Input takes it back:
every setting when the graph reads the normalised tensor, only ``resize`` when the
normalisation is baked into the graph (its nodes then import as layers). Metadata that
cannot be used is one of the notes, never a failed import.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from google.protobuf.message import DecodeError

from core.engine.weights_file import weight_key
from core.errors import LayerwiseError
from core.graph.document import NetworkDocument, Node, free_name, holdable_name, layer_name_problem
from core.graph.fileformat import MAX_LAYERS
from core.graph.layout import apply_layered_layout
from core.graph.validation import check_graph
from core.layers import layer_class, layer_types
from core.layers.onnx_reader import (
    Attributes,
    ImportedLayer,
    OnnxReader,
    PatternRule,
    UnsupportedNode,
    channels_last_converters,
    import_converters,
    onnx_converter,
    pattern_rules,
)
from core.layers.preprocessing import PREPROCESSING_PARAMS, InputPreprocessing
from core.onnx_io.export import PREPROCESSING_KEY
from core.onnx_io.folding import FOLDERS, MAX_FOLDED_BYTES, FoldError, attributes_of, fold, fold_inputs, tensor_array
from core.shapes import Shape, format_shape, is_image

MAX_MODEL_BYTES = 2 << 30
"""Protobuf cannot hold more in one file; larger models use external data."""
MAX_NODES = 50_000
"""More nodes are refused: real CNNs have a few thousand at most (constant sub-graphs included)."""
MAX_LISTED = 30
"""Refused nodes named in the error message; the rest are counted."""


class OnnxImportError(LayerwiseError):
    """The model cannot be read, or holds operations Layerwise cannot represent."""


class OpenInputSizes(OnnxImportError):
    """The model's input leaves sizes open (``[N, 3, ?, ?]``, as ``torch.onnx.export`` with dynamic axes
    writes them); the import needs the sample shape (``input_shape``).

    Attributes
    ----------
    input_name
        The graph input's name.
    sizes
        Its sizes without the batch, ``None`` where open: ``[3, None, None]``.
    """

    def __init__(self, message: str, input_name: str, sizes: list[int | None]) -> None:
        super().__init__(message)
        self.input_name, self.sizes = input_name, sizes

    def suggestion(self) -> list[int]:
        """A sample shape to offer; see :func:`suggested_shape`."""
        return suggested_shape(self.sizes)


def suggested_shape(sizes: Sequence[int | None]) -> list[int]:
    """A sample shape to offer for ``sizes`` (``None`` where open): the fixed sizes, and 224 (ImageNet's) for each open one."""
    return [size if size is not None else 224 for size in sizes]


@dataclass
class ImportedNetwork:
    """The result of an import.

    Attributes
    ----------
    document
        The network, its layers named after the ONNX nodes.
    weights
        Its tensors, keyed ``"layer/param"`` (:func:`~core.engine.weights_file.weight_key`).
    model_notes
        What a person should know about the model as a whole: the input's sizes given at
        import, the preprocessing taken from its metadata (or why it could not be).
    renamed
        Each layer whose node's name could not be kept, and why.
    """

    document: NetworkDocument
    weights: dict[str, np.ndarray] = field(default_factory=dict)
    model_notes: list[str] = field(default_factory=list)
    renamed: list[str] = field(default_factory=list)

    @property
    def notes(self) -> list[str]:
        """Every note: the model's, then the renamed layers'."""
        return self.model_notes + self.renamed


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
            raise OnnxImportError(
                f"the model has over {MAX_NODES:,} nodes (sub-graphs included); Layerwise imports fewer"
            )
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
        raise OnnxImportError(
            f"{path}: is {size / 2**30:.1f} GB; ONNX files are at most 2 GB (larger models keep weights in external data)"
        )
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


def import_onnx(path: str | os.PathLike[str], input_shape: Sequence[int] | None = None) -> ImportedNetwork:
    """Read and import an ``.onnx`` file; errors name the file.

    Parameters
    ----------
    input_shape
        The sample shape (``[C, H, W]`` or ``[F]``, no batch) for a model whose input leaves
        sizes open; its fixed sizes must be kept. ``None``: the model's own, all fixed.

    Raises
    ------
    OpenInputSizes
        When the input leaves sizes open and no ``input_shape`` is given.
    OnnxImportError
        For anything else that cannot be imported.
    """
    model = load_onnx_model(path)
    try:
        return import_model(model, Path(path).stem, input_shape)
    except OpenInputSizes as exc:
        raise OpenInputSizes(f"{path}: {exc}", exc.input_name, exc.sizes) from None
    except OnnxImportError as exc:
        raise OnnxImportError(f"{path}: {exc}") from None


def import_model(
    model: onnx.ModelProto, name: str = "imported", input_shape: Sequence[int] | None = None
) -> ImportedNetwork:
    """Turn an ONNX model into a network document and its weights (``input_shape``: see :func:`import_onnx`)."""
    return _Importer(model, name, input_shape).run()


# -- the importer ----------------------------------------------------------------------


class _Importer:
    """One import: walks the graph once, serving converters and rules as their :class:`OnnxReader`."""

    def __init__(self, model: onnx.ModelProto, name: str, input_shape: Sequence[int] | None = None) -> None:
        _check_node_count(model)
        self.model = model
        self.input_shape = tuple(input_shape) if input_shape is not None else None
        self.graph = model.graph
        self.opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 1)
        self.document = NetworkDocument(model.graph.name or name, f"Imported from ONNX (opset {self.opset}).")
        self.weights: dict[tuple[str, str], np.ndarray] = {}  # (layer, param) → tensor
        self.constants: dict[str, np.ndarray] = {}
        for tensor in self.graph.initializer:
            try:
                self.constants[tensor.name] = tensor_array(tensor)
            except FoldError as exc:
                raise OnnxImportError(f"initializer {tensor.name!r} is damaged: {exc}") from None
        self.converters = import_converters(layer_types())
        self.channels_last_converters = channels_last_converters()
        # ONNX tensors that are N×H×W×C views of computed maps (shapes kept as C×H×W), and
        # the (type, inputs) of layers a channels-last converter made from such views.
        self.channels_last: set[str] = set()
        self.translated: set[tuple[str, tuple[str, ...]]] = set()
        self.rules: dict[str, list[PatternRule]] = {}
        for rule in pattern_rules():
            self.rules.setdefault(rule.anchor, []).append(rule)
        self.fold_budget = MAX_FOLDED_BYTES
        self.produced = {t.name for t in self.graph.initializer} | {i.name for i in self.graph.input}
        self.producers: dict[str, int] = {}  # ONNX tensor → index of the node computing it
        # ONNX tensor → (id of the layer producing it, which of the layer's outputs it is)
        self.tensors: dict[str, tuple[str, int]] = {}
        self.layer_inputs: dict[str, tuple[str, ...]] = {}  # layer id → the ONNX tensors feeding it
        self.shapes: dict[str, Shape] = {}
        # node index → (op, node, why) it is refused, unless a rule takes it in
        self.refusals: dict[int, tuple[str, str, str]] = {}
        self.unresolved: set[str] = set()  # outputs of nodes refused or fed by refused ones
        self.names: set[str] = set()  # of the layers added, see layer_name
        self.name_counts: dict[str, int] = {}
        self.renamed: dict[str, str] = {}  # layer id → the note saying why its node's name was not kept
        self.notes: list[str] = []  # about the model as a whole (its preprocessing metadata)
        self.use_counts = Counter(name for node in self.graph.node for name in node.input if name)
        self.use_counts.update(output.name for output in self.graph.output)

    # the reader that converters and rules see ------------------------------------------

    def attributes(self, node: onnx.NodeProto) -> Attributes:
        try:
            return attributes_of(node)
        except ValueError:  # refused where the node itself is converted
            return {}

    def constant(self, tensor: str) -> np.ndarray | None:
        return self.constants.get(tensor) if tensor else None

    def require_constant(self, tensor: str, what: str) -> np.ndarray:
        value = self.constant(tensor)
        if value is None:
            raise UnsupportedNode(f"its {what} must be constant")
        return value

    def is_computed(self, tensor: str) -> bool:
        return tensor in self.tensors

    def shape(self, tensor: str) -> Shape:
        if tensor not in self.shapes:
            raise UnsupportedNode(
                f"its input {tensor!r} is a constant or an unused output, not data computed by a layer"
            )
        return self.shapes[tensor]

    def spatial_shape(self, node: onnx.NodeProto) -> tuple[int, int, int]:
        shape = self.shape(node.input[0])
        if len(shape) != 3:
            raise UnsupportedNode(f"it needs a C×H×W input, got {format_shape(shape)}")
        return shape  # type: ignore[return-value]

    def uses(self, tensor: str) -> int:
        return self.use_counts[tensor]

    def is_channels_last(self, tensor: str) -> bool:
        return tensor in self.channels_last

    def producer_node(self, tensor: str) -> onnx.NodeProto | None:
        index = self.producers.get(tensor)
        return None if index is None else self.graph.node[index]

    def producer_layer(self, tensor: str) -> ImportedLayer | None:
        return self._imported(self.document.node(self.tensors[tensor][0])) if tensor in self.tensors else None

    def add_layer(
        self,
        node: onnx.NodeProto,
        type_name: str,
        params: Mapping[str, Any],
        inputs: Sequence[str],
        weights: Mapping[str, np.ndarray | None] | None = None,
        *,
        reads_views: bool = False,
    ) -> ImportedLayer:
        if len(self.names) >= MAX_LAYERS:
            raise OnnxImportError(
                f"the model maps to more than {MAX_LAYERS:,} layers; Layerwise holds at most that many"
            )
        shapes = [self.shape(tensor) for tensor in inputs]
        layer_reads_views = self._check_layout(type_name, inputs, reads_views)
        # The output is a view when the node reads one; a rule's anchor reading nothing
        # computed (its sub-graph's end) gives what the layer reads. A layer folded across
        # a Transpose back (a Scale joining the one before it) reads views, gives a map.
        node_reads = [name for name in node.input if name in self.tensors]
        channels_last = any(name in self.channels_last for name in node_reads) if node_reads else layer_reads_views
        arrays = {key: _finite(key, value) for key, value in (weights or {}).items() if value is not None}
        try:
            layer_node = self.document.add_node(type_name, dict(params), name=self.layer_name(node))
            self._note_name(layer_node, node.name or node.output[0], f"{node.op_type} node")
            for tensor in inputs:
                source, source_port = self.tensors[tensor]
                self.document.connect(source, layer_node.id, source_port=source_port)
            output_shapes = layer_node.layer.output_shapes(shapes)
        except LayerwiseError as exc:  # parameters no layer accepts, more inputs than a layer takes
            raise UnsupportedNode(str(exc)) from None
        # Output i of the node is output i of the layer (a Split's parts); unnamed ones are unused.
        for port, (output, shape) in enumerate(zip(node.output, output_shapes)):
            if not output:
                continue
            self.tensors[output] = (layer_node.id, port)
            self.shapes[output] = shape
            if channels_last and is_image(shape):  # features have no channel axis to move
                self.channels_last.add(output)
        self.layer_inputs[layer_node.id] = tuple(inputs)
        self.weights.update(((layer_node.name, key), array) for key, array in arrays.items())
        return self._imported(layer_node)

    def alias(self, output: str, source: str) -> None:
        self.shapes[output] = self.shape(source)
        self.tensors[output] = self.tensors[source]
        if source in self.channels_last:
            self.channels_last.add(output)

    def _check_layout(self, type_name: str, inputs: Sequence[str], reads_views: bool) -> bool:
        """Whether a ``type_name`` layer on ``inputs`` reads channels-last views; refuse one that cannot.

        The layer computes on the C×H×W maps the views show, which gives the op's result
        (as a view again) only for layers acting pointwise, and for the layers that
        channels-last converters and rules chose for the op (``reads_views``), which may
        be added again on the same views (a constant Mul folding into it).
        """
        last = [tensor in self.channels_last for tensor in inputs]
        if not any(last):
            return False
        if not all(last):
            raise UnsupportedNode(
                "it combines a channels-last (N×H×W×C) tensor with a channels-first one; Layerwise cannot align them"
            )
        cls = layer_class(type_name)
        key = (type_name, tuple(inputs))
        if reads_views:
            self.translated.add(key)
        elif not (cls.acts_pointwise or cls.is_activation_function or key in self.translated):
            raise UnsupportedNode(
                f"it would be a {type_name} layer on a channels-last (N×H×W×C) tensor, whose axes it would mistake; "
                "on such a tensor only pointwise operations, MatMul by a constant matrix, normalisation or softmax "
                "over the last axis, and a Transpose(0, 3, 1, 2) back map to layers"
            )
        return True

    def set_layer_param(self, layer: str, param: str, value: Any) -> None:
        try:
            self.document.set_param(self._layer_node(layer).id, param, value)
        except LayerwiseError as exc:
            raise UnsupportedNode(str(exc)) from None

    def weight(self, layer: str, key: str) -> np.ndarray | None:
        return self.weights.get((layer, key))

    def set_weight(self, layer: str, key: str, value: np.ndarray) -> None:
        self.weights[(layer, key)] = _finite(key, value)

    def layer_name(self, node: onnx.NodeProto) -> str:
        """The node's name (or its output's), unchanged when it is free and the document can hold it.

        Otherwise ``name_1``, ``name_2`` … when taken, a form the document holds when it
        cannot (:func:`~core.graph.document.holdable_name`), the op type when nothing is left.
        """
        stem = holdable_name(node.name) or holdable_name(node.output[0]) or holdable_name(node.op_type.lower())
        return self._free(stem or "layer")

    def _free(self, stem: str) -> str:
        """``stem`` or the first free ``stem_1``, ``stem_2`` …, now taken.

        The suffixes used are counted per stem: trying them all from 1 each time, a model of
        thousands of nodes sharing one name would take minutes.
        """
        start = self.name_counts.get(stem, 0)
        name = free_name(stem, self.names.__contains__, start)
        if name != stem:
            self.name_counts[stem] = start + 1
        self.names.add(name)
        return name

    def _note_name(self, layer: Node, original: str, what: str) -> None:
        """Remember why ``layer`` is not named ``original``, as the ONNX model names it."""
        if layer.name != original:
            why = layer_name_problem(original) or "another layer has that name"
            shown = original if len(original) <= 60 else original[:60] + "…"
            self.renamed[layer.id] = f"{what} {shown!r} became layer {layer.name!r}: {why}"

    def _layer_node(self, name: str) -> Node:
        node = self.document.node_by_name(name)
        if node is None:
            raise UnsupportedNode(f"no layer is named {name!r}")
        return node

    def _imported(self, node: Node) -> ImportedLayer:
        return ImportedLayer(node.name, node.type_name, node.layer.params, self.layer_inputs.get(node.id, ()))

    # the walk -----------------------------------------------------------------------

    def _input(self) -> None:
        produced = {name for node in self.graph.node for name in node.output}
        inputs = [i for i in self.graph.input if i.name not in self.constants and i.name not in produced]
        if len(inputs) != 1:
            names = ", ".join(repr(i.name) for i in inputs) or "none"
            raise OnnxImportError(
                f"the model has {len(inputs)} data inputs ({names}); Layerwise networks have exactly one"
            )
        graph_input = inputs[0]
        shape = self._input_shape(graph_input)
        try:
            node = self.document.add_node(
                "Input", {"shape": list(shape)}, name=self._free(holdable_name(graph_input.name) or "input")
            )
        except LayerwiseError as exc:
            raise OnnxImportError(f"input {graph_input.name!r}: {exc}") from None
        self._note_name(node, graph_input.name, "input")
        self._preprocessing(node)
        self.tensors[graph_input.name] = (node.id, 0)
        self.shapes[graph_input.name] = shape

    def _input_shape(self, graph_input: onnx.ValueInfoProto) -> Shape:
        """The sample shape of ``graph_input``: its own when every size is fixed, else :attr:`input_shape`."""
        dims = graph_input.type.tensor_type.shape.dim
        sizes = [d.dim_value if d.HasField("dim_value") and d.dim_value >= 1 else None for d in dims]
        shown = "[" + ", ".join("?" if s is None else str(s) for s in sizes) + "]"
        if len(sizes) not in (2, 4):
            raise OnnxImportError(
                f"input {graph_input.name!r} has shape {shown}; Layerwise needs N×C×H×W or N×features"
            )
        own = sizes[1:]
        if self.input_shape is None:
            if any(size is None for size in own):
                example = ",".join(map(str, suggested_shape(own)))
                raise OpenInputSizes(
                    f"input {graph_input.name!r} has shape {shown}, with sizes left open; give the sample shape "
                    f"to import it at (layerwise import --input-shape {example})",
                    graph_input.name,
                    own,
                )
            return tuple(int(size) for size in own)  # type: ignore[arg-type]
        given = self.input_shape
        wanted = "C, H, W" if len(own) == 3 else "features"
        if len(given) != len(own) or any(isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in given):
            raise OnnxImportError(
                f"input shape {list(given)} does not fit input {graph_input.name!r} of shape {shown}: "
                f"give {len(own)} whole number(s) ≥ 1 ({wanted}), without the batch"
            )
        clashes = [f"{size} (not {value})" for size, value in zip(own, given) if size is not None and size != value]
        if clashes:
            raise OnnxImportError(
                f"input shape {list(given)} does not fit input {graph_input.name!r} of shape {shown}: its fixed "
                f"sizes stay as they are: {', '.join(clashes)}"
            )
        if any(size is None for size in own):
            self.notes.append(f"input {graph_input.name!r} of shape {shown} is imported at {format_shape(given)}")
        return given

    def _preprocessing(self, node: Node) -> None:
        """Give the Input ``node`` the preprocessing the model's metadata records, with a note either way.

        Not baked, the graph reads the normalised tensor: every setting is taken. Baked, the
        graph normalises raw pixels itself: only ``resize`` is (its nodes become layers).
        """
        entries = [entry.value for entry in self.model.metadata_props if entry.key == PREPROCESSING_KEY]
        if not entries:
            return
        try:
            params, baked = _read_preprocessing(entries[-1])
        except ValueError as exc:
            self.notes.append(f"metadata {PREPROCESSING_KEY!r} is not used: {exc}")
            return
        if baked:
            params = {"resize": params.get("resize", InputPreprocessing().resize)}
        shape = node.layer.params["shape"]
        if not is_image(shape):
            self.notes.append(
                f"metadata {PREPROCESSING_KEY!r} is not used: it describes images, and input {node.name!r} has "
                f"shape {format_shape(shape)}"
            )
            return
        try:
            layer = node.layer.with_params(**params)
        except LayerwiseError as exc:
            self.notes.append(f"metadata {PREPROCESSING_KEY!r} is not used: the input refuses it: {exc}")
            return
        node.layer = layer
        preprocessing = getattr(layer, "preprocessing", InputPreprocessing())
        if baked:
            self.notes.append(
                f"input {node.name!r}: resize {preprocessing.resize} taken from the model's metadata "
                f"({PREPROCESSING_KEY}); the normalisation is part of the graph and imported as its layers"
            )
        else:
            self.notes.append(
                f"input {node.name!r}: preprocessing taken from the model's metadata ({PREPROCESSING_KEY}): "
                f"{preprocessing.describe()}"
            )

    def _fold_shape(self, node: onnx.NodeProto) -> bool:
        """``Shape``/``Size`` of a computed tensor: constant from its known shape (batch 1)."""
        if node.op_type not in ("Shape", "Size") or not node.input or node.input[0] not in self.shapes:
            return False
        shape = self.shapes[node.input[0]]
        if node.input[0] in self.channels_last:  # the view's shape, N×H×W×C
            shape = (*shape[1:], shape[0])
        full = np.array((1, *shape), dtype=np.int64)
        self.constants[node.output[0]] = full if node.op_type == "Shape" else np.array(full.prod(), dtype=np.int64)
        return True

    def run(self) -> ImportedNetwork:
        self._input()
        for index, node in enumerate(self.graph.node):
            self._check_wiring(node)
            self._visit(index, node)
            self.produced.update(node.output)
            self.producers.update((name, index) for name in node.output if name)
        if self.refusals:
            count = len(self.refusals)
            raise OnnxImportError(
                f"the model uses operations Layerwise cannot represent ({count:,} node{'s' * (count != 1)}): "
                + _listing(list(self.refusals.values()))
            )
        return self._finish()

    def _visit(self, index: int, node: onnx.NodeProto) -> None:
        """Fold ``node``, map it onto a layer, or record why it cannot be (for now)."""
        if node.domain not in ("", "ai.onnx"):
            self._defer(index, node, f"domain {node.domain!r}")
            return
        inputs = [name for name in node.input if name]
        blocked = any(name in self.unresolved for name in inputs)
        needed = self._inputs_needed(node)
        if len(node.input) < needed or not all(node.input[:needed]):
            if blocked:
                self._block(index, node)
            else:
                self._defer(index, node, f"has {len(inputs)} inputs; {node.op_type} needs at least {needed}")
            return
        if not blocked and (self._fold_shape(node) or self._fold(index, node)):
            return
        rules = self.rules.get(node.op_type, [])
        if blocked and not rules:
            self._block(index, node)
            return
        try:
            attrs = attributes_of(node)
        except ValueError as exc:  # an attribute of unknown type, or a damaged tensor
            self._defer(index, node, f"has an unreadable attribute ({exc})")
            return
        try:
            if not blocked and self._follow_layout(node, attrs):
                return
            if not blocked and any(name in self.channels_last for name in inputs):
                translate = self.channels_last_converters.get(node.op_type)
                if translate is not None:
                    translate.convert(self, node, attrs)
                    return
                node = self._with_channels_first_constants(node)
            if self._match(rules, node, attrs):
                return
            converter = self.converters.get(node.op_type)
            if blocked:
                self._block(index, node)
            elif converter is None:
                self._defer(index, node, self._unmapped(rules))
            else:
                converter.convert(self, node, attrs)
        except UnsupportedNode as exc:
            self._defer(index, node, str(exc))

    def _follow_layout(self, node: onnx.NodeProto, attrs: Attributes) -> bool:
        """A Transpose of a computed map to channels-last (0, 2, 3, 1) or back (0, 3, 1, 2): whether it was one.

        Either is the same map, viewed the other way; no layer is added.
        """
        source = node.input[0] if node.op_type == "Transpose" else ""
        if source not in self.tensors:
            return False
        perm, output = attrs.get("perm"), node.output[0]
        if source in self.channels_last:
            if perm != [0, 3, 1, 2]:
                return False
        elif perm != [0, 2, 3, 1] or not is_image(self.shapes[source]):
            return False
        else:
            self.channels_last.add(output)
        self.tensors[output], self.shapes[output] = self.tensors[source], self.shapes[source]
        return True

    def _with_channels_first_constants(self, node: onnx.NodeProto) -> onnx.NodeProto:
        """``node`` with each float constant it applies to a channels-last view moved to the channels axis.

        Over N×H×W×C a constant of shape ``(C,)`` or ``(1, 1, 1, C)`` holds one value per
        channel; the layers, computing on the C×H×W map, read it as ``(C, 1, 1)``. Single
        values stay as they are.

        Raises
        ------
        UnsupportedNode
            For a constant of any other shape (one value per position, say).
        """
        channels = next(self.shapes[name][0] for name in node.input if name in self.channels_last)
        moved_node = None
        for position, name in enumerate(node.input):
            value = self.constant(name)
            if value is None or value.dtype.kind != "f" or value.size <= 1:
                continue
            if value.size != channels or value.shape[-1] != channels:
                raise UnsupportedNode(
                    f"its constant {name!r} of shape {list(value.shape)} is not one value per channel of the "
                    f"channels-last (N×H×W×C) tensor with {channels} channels it meets"
                )
            moved = f"{name} (channels first)"
            self.constants[moved] = value.reshape(channels, 1, 1)
            if moved_node is None:
                moved_node = onnx.NodeProto()
                moved_node.CopyFrom(node)
            moved_node.input[position] = moved
        return moved_node if moved_node is not None else node

    def _match(self, rules: list[PatternRule], node: onnx.NodeProto, attrs: Attributes) -> bool:
        """Try the pattern rules anchored at ``node``; the first that matches drops the refusals it takes in."""
        for rule in rules:
            taken = rule.match(self, node, attrs)
            if taken is not None:
                for earlier in taken:
                    self.refusals.pop(self.producers.get(earlier.output[0], -1), None)
                return True
        return False

    @staticmethod
    def _unmapped(rules: list[PatternRule]) -> str:
        """Why a node with no converter is refused: nothing, or the patterns it could have ended."""
        return f"matches no pattern that maps to a layer ({', '.join(rule.name for rule in rules)})" if rules else ""

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
        converter = self.converters.get(node.op_type)
        needed = [converter.min_inputs if converter else 0, fold_inputs(node.op_type, self.opset) or 0]
        return max(needed)

    def _fold(self, index: int, node: onnx.NodeProto) -> bool:
        """Evaluate ``node`` if it is an op on constants only; whether it was one."""
        if node.op_type not in FOLDERS or not all(name in self.constants for name in node.input if name):
            return False
        try:
            values = [self.constants[name] if name else None for name in node.input]
            outputs = fold(node, values, self.opset, self.fold_budget)
            for output, value in zip(node.output, outputs):
                self.constants[output] = value
                self.fold_budget -= value.nbytes
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            self._defer(index, node, f"cannot be evaluated ({exc})")
        return True

    @staticmethod
    def _node_name(node: onnx.NodeProto) -> str:
        return node.name or (node.output[0] if node.output else "?")

    def _label(self, node: onnx.NodeProto) -> str:
        return f"{node.op_type} ({self._node_name(node)})"

    def _defer(self, index: int, node: onnx.NodeProto, reason: str) -> None:
        """Refuse ``node`` unless a pattern rule at a later node takes it in."""
        self.refusals[index] = (node.op_type, self._node_name(node), reason)
        self.unresolved.update(node.output)

    def _block(self, index: int, node: onnx.NodeProto) -> None:
        """``node`` reads a refused node's output: name it only if its op could never be mapped."""
        known = node.op_type in self.converters or node.op_type in FOLDERS or node.op_type in self.rules
        if not known:
            self.refusals[index] = (node.op_type, self._node_name(node), "")
        self.unresolved.update(node.output)

    def _finish(self) -> ImportedNetwork:
        if len(self.graph.output) != 1:
            names = ", ".join(repr(o.name) for o in self.graph.output)
            raise OnnxImportError(
                f"the model has {len(self.graph.output)} outputs ({names}); Layerwise networks have exactly one"
            )
        output = self.graph.output[0].name
        if output not in self.tensors:
            raise OnnxImportError(f"the model's output {output!r} is not computed by a layer Layerwise can represent")
        if output in self.channels_last:
            raise OnnxImportError(
                f"the model's output {output!r} is a channels-last (N×H×W×C) map; Layerwise's maps are N×C×H×W, "
                "so the model would need a Transpose(0, 3, 1, 2) at its end"
            )
        output_id, output_port = self.tensors[output]
        count = self.document.node(output_id).layer.output_count
        if count > 1:
            raise OnnxImportError(
                f"the model's output {output!r} is output {output_port + 1} of layer "
                f"{self.document.node(output_id).name!r}, which has {count}; Layerwise networks end in a layer "
                "with one output"
            )
        self._prune(output_id)
        problems = check_graph(self.document).problems
        if problems:
            raise OnnxImportError("the imported network does not compute: " + "; ".join(map(str, problems)))
        apply_layered_layout(self.document)
        kept = {n.name for n in self.document.nodes}
        weights = {weight_key(layer, key): value for (layer, key), value in self.weights.items() if layer in kept}
        renamed = [self.renamed[n.id] for n in self.document.nodes if n.id in self.renamed]
        return ImportedNetwork(self.document, weights, self.notes, renamed)

    def _prune(self, output_id: str) -> None:
        """Drop layers whose results never reach the output (side branches, layers a rule replaced)."""
        needed, stack = set(), [output_id]
        while stack:
            current = stack.pop()
            if current not in needed:
                needed.add(current)
                stack.extend(e.source for e in self.document.input_edges(current))
        for node in list(self.document.nodes):
            if node.id not in needed:
                self.document.remove_node(node.id)


def _listing(refusals: list[tuple[str, str, str]]) -> str:
    """``Erf ×2 (/a/Erf, /b/Erf); Reshape (r1): why``: refused nodes by op type and reason, in order.

    Every op type and reason is counted; at most :data:`MAX_LISTED` node names are listed.
    """
    groups: dict[tuple[str, str], list[str]] = {}
    for op_type, name, reason in refusals:
        groups.setdefault((op_type, reason), []).append(name)
    parts, budget = [], MAX_LISTED
    for (op_type, reason), names in groups.items():
        shown = names[:budget]
        budget -= len(shown)
        listed = ", ".join(shown) + (f", … {len(names) - len(shown):,} more" if len(shown) < len(names) else "")
        label = f"{op_type} ×{len(names):,}" if len(names) > 1 else op_type
        part = f"{label} ({listed})" if shown else label
        parts.append(f"{part}: {reason}" if reason else part)
    return "; ".join(parts)


def _read_preprocessing(text: str) -> tuple[dict[str, Any], bool]:
    """The Input parameters and the ``"baked"`` flag in the metadata ``text``.

    Returns
    -------
    params
        The preprocessing parameters the JSON names (a subset of ``PREPROCESSING_PARAMS``),
        their values unchecked: the Input checks them.
    baked
        Whether the graph computes the normalisation itself.

    Raises
    ------
    ValueError
        Saying what is wrong: not JSON, not an object, unknown fields, ``"baked"`` missing
        or not true or false.
    """
    try:
        settings = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise ValueError(f"it is not JSON ({exc})") from None
    if not isinstance(settings, dict):
        raise ValueError(f"it holds a JSON {type(settings).__name__}, not an object of settings")
    unknown = sorted(str(key) for key in settings if key not in (*PREPROCESSING_PARAMS, "baked"))
    if unknown:
        shown = ", ".join(repr(key if len(key) <= 40 else key[:40] + "…") for key in unknown[:5])
        raise ValueError(f"it has unknown field{'s' * (len(unknown) != 1)} {shown}")
    baked = settings.get("baked")
    if not isinstance(baked, bool):
        got = "none" if "baked" not in settings else f"{json.dumps(baked)[:40]}"
        raise ValueError(f"its field 'baked' must be true or false, got {got}")
    return {key: value for key, value in settings.items() if key != "baked"}, baked


def _finite(key: str, value: np.ndarray) -> np.ndarray:
    """Weight ``key`` as float32; :class:`UnsupportedNode` when a value is not finite there."""
    with np.errstate(over="ignore", invalid="ignore"):
        array = np.asarray(value, dtype=np.float32)
    if not np.all(np.isfinite(array)):
        # No engine can compute with them; saying so now names the node at fault.
        raise UnsupportedNode(f"its {key} holds NaN or infinite values (or values beyond float32)")
    return array


# -- ops that map to no layer --------------------------------------------------------------


@onnx_converter("Identity")
def _identity(reader: OnnxReader, node: onnx.NodeProto, attrs: Attributes) -> None:
    """Identity of a computed tensor: the same tensor."""
    reader.alias(node.output[0], node.input[0])


@onnx_converter("Transpose")
def _transpose(reader: OnnxReader, node: onnx.NodeProto, attrs: Attributes) -> None:
    """A Transpose the import does not follow: it maps to no layer.

    The importer follows a map to its channels-last view, Transpose(0, 2, 3, 1), and back,
    Transpose(0, 3, 1, 2), before converters are asked; pattern rules take in others
    (the one in a ChannelShuffle).
    """
    shape = reader.shape(node.input[0]) if reader.is_computed(node.input[0]) else None
    of = f" of an N×{format_shape(shape)} tensor" if shape is not None else ""
    view = " (a channels-last view)" if reader.is_channels_last(node.input[0]) else ""
    raise UnsupportedNode(
        f"a Transpose with perm {attrs.get('perm')}{of}{view} has no layer; only Transpose(0, 2, 3, 1) of a map to "
        "channels-last and Transpose(0, 3, 1, 2) back are followed"
    )
