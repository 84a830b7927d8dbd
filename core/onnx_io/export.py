"""Export a network with its weights to ONNX.

Each layer class writes its own nodes (``Layer.export_onnx``) through an
:class:`OnnxExport` context; this module assembles the graph, names tensors after
layers, gives the input a dynamic batch dimension and checks the result with
``onnx.checker`` (full check). BatchNorm leaves in inference form; Dropout leaves nothing.

Names survive exactly: the node computing a layer's output is named as the layer, whatever
the name holds; tensor names (one namespace for outputs and initialisers) and the names of
helper nodes are made unique on their own, so no layer is renamed to make way for them.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from core.atomic import atomic_write_bytes
from core.engine.model import Model
from core.layers.onnx_writer import OnnxExportError

DEFAULT_OPSET = 17
"""Opset written by default: fully supported by every onnxruntime of the last years."""
MIN_OPSET = 7
BATCH = "batch"


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


def export_model(model: Model, opset: int = DEFAULT_OPSET) -> onnx.ModelProto:
    """Return ``model`` (structure and current weights) as a checked ONNX model.

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
    try:
        onnx.checker.check_model(exported, full_check=True)
    except onnx.checker.ValidationError as exc:  # a bug in a converter, reported rather than written
        raise OnnxExportError(f"the exported model does not pass onnx.checker: {exc}") from None
    return exported


def save_onnx(model: Model, path: str | os.PathLike[str], opset: int = DEFAULT_OPSET) -> onnx.ModelProto:
    """Export and write ``path`` atomically; return the model written."""
    exported = export_model(model, opset)
    try:
        atomic_write_bytes(Path(path), exported.SerializeToString())
    except OSError as exc:
        raise OnnxExportError(f"{path}: cannot be written: {exc.strerror or exc}") from None
    return exported
