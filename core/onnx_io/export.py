"""Export a network with its weights to ONNX.

Each layer class writes its own nodes (``Layer.export_onnx``) through an
:class:`OnnxExport` context; this module assembles the graph, names tensors after
layers, gives the input a dynamic batch dimension and checks the result with
``onnx.checker`` (full check). BatchNorm leaves in inference form; Dropout leaves nothing.

Names survive exactly: the node computing a layer's output is named as the layer, whatever
the name holds; tensor names (one namespace for outputs and initialisers) and the names of
helper nodes are made unique on their own, so no layer is renamed to make way for them.

An Input with a preprocessing (:class:`~core.layers.preprocessing.InputPreprocessing`) is described
in the model's ``metadata_props``: ``layerwise.preprocessing`` holds its settings as JSON
(read back by the importer), ``preprocessing`` says it in words. By default the graph
reads the normalised tensor, as torchvision's and the ONNX model zoo's models do; with
``bake_preprocessing`` its first nodes compute the normalisation, so that it reads raw
RGB pixels in ``[0, 1]`` like :meth:`Model.forward <core.engine.model.Model.forward>`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from core.atomic import atomic_write_bytes
from core.engine.model import Model
from core.layers.onnx_writer import OnnxExportError
from core.layers.preprocessing import InputPreprocessing

DEFAULT_OPSET = 17
"""Opset written by default: fully supported by every onnxruntime of the last years."""
MIN_OPSET = 7
BATCH = "batch"
PREPROCESSING_KEY = "layerwise.preprocessing"
"""Metadata key of the Input's preprocessing settings: compact JSON, with ``"baked"`` added."""
PREPROCESSING_TEXT_KEY = "preprocessing"
"""Metadata key of the same settings in words, for people and other tools."""


class OnnxExport:
    """Collects nodes and initialisers while layers export themselves (an :class:`OnnxWriter`).

    Attributes
    ----------
    opset
        The target opset; layers choose their encoding from it.
    """

    def __init__(self, opset: int, layer_names: set[str]) -> None:
        self.opset = opset
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self._names: set[str] = set()
        self._node_names = set(layer_names)  # reserved for the layers' own nodes
        self.layer_tensor: str | None = None  # set by name_after_layer while a layer writes itself

    def unique(self, name: str) -> str:
        """A tensor name: ``name``, or ``name_1``, ``name_2`` … when taken."""
        return _unique(name, self._names)

    def node(self, op_type: str, inputs: list[str], name: str, **attributes: Any) -> str:
        """Add one node with a single output named after it; return the output's name."""
        output = self.unique(name)
        node_name = _unique(name, self._node_names)
        self.nodes.append(helper.make_node(op_type, inputs, [output], name=node_name, **attributes))
        return output

    def node_with_outputs(self, op_type: str, inputs: list[str], name: str, count: int, **attributes: Any) -> list[str]:
        """Add one node with ``count`` outputs, ``name_0`` … ``name_{count − 1}``; return their names."""
        outputs = [self.unique(f"{name}_{index}") for index in range(count)]
        node_name = _unique(name, self._node_names)
        self.nodes.append(helper.make_node(op_type, inputs, outputs, name=node_name, **attributes))
        return outputs

    def name_after_layer(self, tensor: str) -> None:
        """Give the layer being written its name on the node computing ``tensor`` (see :class:`OnnxWriter`)."""
        self.layer_tensor = tensor

    def name_layer_node(self, tensor: str, layer: str, since: int) -> None:
        """Name the node computing ``tensor`` (added since node ``since``) after ``layer``."""
        for node in self.nodes[since:]:
            if tensor in node.output:
                node.name = layer
                return

    def constant(self, name: str, value: np.ndarray) -> str:
        """Add an initialiser (float32 or int64) and return its name."""
        array = np.asarray(value)
        array = array.astype(np.int64 if np.issubdtype(array.dtype, np.integer) else np.float32)
        tensor = numpy_helper.from_array(array, self.unique(name))
        self.initializers.append(tensor)
        return tensor.name

    def pad(self, source: str, pads: list[int], name: str) -> str:
        """Zero-pad the H and W axes of an N×C×H×W tensor by ``[top, left, bottom, right]``."""
        top, left, bottom, right = pads
        full = [0, 0, top, left, 0, 0, bottom, right]
        if self.opset < 11:  # pads became an input in opset 11
            return self.node("Pad", [source], name, pads=full, mode="constant")
        return self.node("Pad", [source, self.constant(f"{name}.pads", np.array(full))], name, mode="constant")


def _unique(name: str, taken: set[str]) -> str:
    """``name``, or ``name_1``, ``name_2`` … when in ``taken``; added to it."""
    candidate, index = name, 1
    while candidate in taken:
        candidate, index = f"{name}_{index}", index + 1
    taken.add(candidate)
    return candidate


def _output(tensor: str | list[str], port: int) -> str:
    """The tensor of output ``port`` of a layer that wrote ``tensor`` (one name, or one per output)."""
    return tensor if isinstance(tensor, str) else tensor[port]


def ir_version_for(opset: int) -> int:
    """The lowest IR version that carries ``opset`` (what onnxruntime expects for it)."""
    return helper.find_min_ir_version_for([helper.make_opsetid("", opset)])


def input_preprocessing(model: Model) -> InputPreprocessing:
    """The preprocessing of ``model``'s Input (the default one for an input without any)."""
    preprocessing = getattr(model.input_node.layer, "preprocessing", None)
    return preprocessing if isinstance(preprocessing, InputPreprocessing) else InputPreprocessing()


def preprocessing_metadata(preprocessing: InputPreprocessing, baked: bool) -> dict[str, str]:
    """The ``metadata_props`` describing ``preprocessing``; empty for the default one.

    Parameters
    ----------
    preprocessing
        The Input's preprocessing.
    baked
        Whether the graph computes the normalisation itself (and so reads raw pixels).

    Returns
    -------
    dict[str, str]
        :data:`PREPROCESSING_KEY`: compact JSON of :meth:`InputPreprocessing.to_json` with
        ``"baked"``; :data:`PREPROCESSING_TEXT_KEY`: the settings in words, and what the graph reads.
    """
    if preprocessing.is_default:
        return {}
    settings = {**preprocessing.to_json(), "baked": baked}
    if baked:
        reads = "The graph computes this normalisation itself: feed it raw RGB pixels in 0..1."
    elif preprocessing.normalises:
        reads = "The graph expects input already normalised this way (raw RGB pixels in 0..1, then this)."
    else:
        reads = "There is no normalisation: the graph reads raw RGB pixels in 0..1."
    return {
        PREPROCESSING_KEY: json.dumps(settings, separators=(",", ":")),
        PREPROCESSING_TEXT_KEY: f"{preprocessing.describe()}. {reads}",
    }


def _bake_preprocessing(
    context: OnnxExport, source: str, input_name: str, preprocessing: InputPreprocessing, channels: int
) -> str:
    """Add the nodes computing the Input's normalisation on the graph input ``source``; return their output.

    The same float32 operations as :class:`~core.ops.basic.InputOp`, in the same order:
    ``Gather`` of the channels (BGR), ``Mul`` by the scale, ``Add`` of the shift, each
    constant of shape ``(1, C, 1, 1)`` (the gather's indices ``(C,)`` int64). ``Gather``
    (opset 1), ``Mul`` and ``Add`` with broadcasting (opset 7) serve every exported opset.
    """
    order, scale, shift = preprocessing.affine(channels)
    stem = f"{input_name}_preprocess"
    tensor = source
    if order is not None:
        indices = context.constant(f"{stem}_order.indices", order.astype(np.int64))
        tensor = context.node("Gather", [tensor, indices], f"{stem}_order", axis=1)
    scale_tensor = context.constant(f"{stem}_scale.value", scale.reshape(1, channels, 1, 1))
    tensor = context.node("Mul", [tensor, scale_tensor], f"{stem}_scale")
    shift_tensor = context.constant(f"{stem}_shift.value", shift.reshape(1, channels, 1, 1))
    return context.node("Add", [tensor, shift_tensor], f"{stem}_shift")


def export_model(model: Model, opset: int = DEFAULT_OPSET, *, bake_preprocessing: bool = False) -> onnx.ModelProto:
    """Return ``model`` (structure and current weights) as a checked ONNX model.

    Parameters
    ----------
    model
        The network; its graph input is ``(batch, *input_shape)`` float32.
    opset
        The target opset, :data:`MIN_OPSET` to the newest ``onnx`` knows.
    bake_preprocessing
        Write the Input's normalisation (channel order, value range, mean, std) as the
        graph's first nodes, so that the graph reads raw RGB pixels in ``[0, 1]`` and gives
        what :meth:`Model.forward <core.engine.model.Model.forward>` gives. Otherwise the
        graph reads the normalised tensor (:meth:`InputPreprocessing.apply` of the pixels).
        Either way a preprocessing other than the default is described in the metadata
        (:func:`preprocessing_metadata`).

    Raises
    ------
    OnnxExportError
        When ``opset`` is out of range or a layer cannot be written in it.
    """
    newest = onnx.defs.onnx_opset_version()
    if not MIN_OPSET <= opset <= newest:
        raise OnnxExportError(f"opset must be between {MIN_OPSET} and {newest}, got {opset}")
    context = OnnxExport(opset, {node.name for node in model.order})
    tensors: dict[str, str | list[str]] = {}  # layer id → its output tensor, or one per output port
    input_node = model.input_node
    graph_input = helper.make_tensor_value_info(
        context.unique(input_node.name), TensorProto.FLOAT, [BATCH, *model.input_shape]
    )
    tensors[input_node.id] = graph_input.name
    preprocessing = input_preprocessing(model)
    baked = bake_preprocessing and preprocessing.normalises
    if baked:
        channels = model.input_shape[0]
        tensors[input_node.id] = _bake_preprocessing(
            context, graph_input.name, input_node.name, preprocessing, channels
        )
    for node in model.order:
        if node is input_node:
            continue
        inputs = [_output(tensors[source], port) for source, port in model.inputs_of(node.id)]
        since, context.layer_tensor = len(context.nodes), None
        try:
            input_shapes = model.input_shapes(node.id)
            tensors[node.id] = node.layer.export_onnx(context, node.name, inputs, input_shapes, model.ops[node.id])
        except OnnxExportError as exc:
            raise OnnxExportError(f"layer {node.name!r}: {exc}") from None
        context.name_layer_node(context.layer_tensor or _output(tensors[node.id], 0), node.name, since)
    final = _output(tensors[model.output_node.id], 0)
    if final == graph_input.name or final != model.output_node.name:
        final = context.node("Identity", [final], model.output_node.name)
    graph_output = helper.make_tensor_value_info(final, TensorProto.FLOAT, [BATCH, *model.output_shape])
    graph_inputs, ir_version = [graph_input], ir_version_for(opset)
    if ir_version < 4:  # IR 3 (opsets 7 and 8) lists every initialiser among the graph's inputs too
        graph_inputs += [helper.make_tensor_value_info(t.name, t.data_type, list(t.dims)) for t in context.initializers]
    graph = helper.make_graph(
        context.nodes, model.document.name or "network", graph_inputs, [graph_output], context.initializers
    )
    exported = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", opset)],
        producer_name="Layerwise",
        ir_version=ir_version,
        doc_string=model.document.description,
    )
    onnx.helper.set_model_props(exported, preprocessing_metadata(preprocessing, baked))
    try:
        onnx.checker.check_model(exported, full_check=True)
    except onnx.checker.ValidationError as exc:  # a bug in a converter, reported rather than written
        raise OnnxExportError(f"the exported model does not pass onnx.checker: {exc}") from None
    return exported


def save_onnx(
    model: Model, path: str | os.PathLike[str], opset: int = DEFAULT_OPSET, *, bake_preprocessing: bool = False
) -> onnx.ModelProto:
    """Export (see :func:`export_model`) and write ``path`` atomically; return the model written."""
    exported = export_model(model, opset, bake_preprocessing=bake_preprocessing)
    try:
        atomic_write_bytes(Path(path), exported.SerializeToString())
    except OSError as exc:
        raise OnnxExportError(f"{path}: cannot be written: {exc.strerror or exc}") from None
    return exported
