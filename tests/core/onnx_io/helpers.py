"""Run exported models in onnxruntime and compare with the engine."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import numpy_helper

from core.engine.model import Model


def run_onnx(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x})[0]


def randomize(model: Model, seed: int = 0) -> None:
    """Random weights and BatchNorm statistics, so that every term shows in the output."""
    rng = np.random.default_rng(seed)
    model.params[...] = rng.uniform(-0.5, 0.5, model.params.size)
    for key, buffer in model.buffers.items():
        buffer[...] = (
            rng.uniform(0.5, 1.5, buffer.shape) if key.endswith("running_var") else rng.uniform(-0.2, 0.2, buffer.shape)
        )


def relative_difference(ours: np.ndarray, theirs: np.ndarray) -> float:
    return float(np.abs(ours - theirs).max() / max(np.abs(theirs).max(), 1e-6))


LIGHT_MODELS = Path(onnx.__file__).parent / "backend" / "test" / "data" / "light"
"""The classic CNNs the onnx package ships as test data, with their weights stripped."""


def with_random_weights(model: onnx.ModelProto, seed: int = 0) -> onnx.ModelProto:
    """Replace the ConstantOfShape weight stubs of a light model by random initialisers.

    Kernels get He-scaled normal values (so activations stay finite through 50 layers),
    biases and BatchNorm means small values, scales and variances values around one.
    """
    rng = np.random.default_rng(seed)
    model = copy.deepcopy(model)
    graph = model.graph
    shapes = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    slots = {name: (node.op_type, index) for node in graph.node for index, name in enumerate(node.input)}
    kept_nodes = []
    for node in graph.node:
        if node.op_type != "ConstantOfShape" or node.input[0] not in shapes:
            kept_nodes.append(node)
            continue
        shape = tuple(int(d) for d in shapes[node.input[0]])
        op_type, index = slots.get(node.output[0], ("", 0))
        if op_type == "BatchNormalization" and index in (1, 4):
            value = rng.uniform(0.5, 1.5, shape)
        elif len(shape) >= 2:
            fan_in = int(np.prod(shape[1:])) if op_type != "Gemm" else shape[0]
            value = rng.standard_normal(shape, dtype=np.float32) * np.float32(np.sqrt(2.0 / max(fan_in, 1)))
        else:
            value = rng.uniform(-0.1, 0.1, shape)
        graph.initializer.append(numpy_helper.from_array(value.astype(np.float32), node.output[0]))
    del graph.node[:]
    graph.node.extend(kept_nodes)
    used = {name for node in graph.node for name in node.input}
    stale = [t for t in graph.initializer if t.name.endswith("__SHAPE") and t.name not in used]
    stale_names = {t.name for t in stale}
    for tensor in stale:
        graph.initializer.remove(tensor)
    for graph_input in [i for i in graph.input if i.name in stale_names]:
        graph.input.remove(graph_input)
    return model


def without_final_softmax(model: onnx.ModelProto) -> onnx.ModelProto:
    """The same model returning the scores before its last Softmax (random weights saturate it)."""
    model = copy.deepcopy(model)
    graph = model.graph
    last = graph.node[-1]
    if last.op_type != "Softmax" or last.output[0] != graph.output[0].name:
        return model
    graph.node.remove(last)
    output = onnx.helper.make_tensor_value_info(last.input[0], onnx.TensorProto.FLOAT, None)
    del graph.output[:]
    graph.output.append(output)
    return model


def build_model(nodes, input_shape, output, initializers=None, opset=17, output_shape=None) -> onnx.ModelProto:
    """A small ONNX model: one float input ``x`` of ``input_shape``, the given nodes and constants."""
    graph = onnx.helper.make_graph(
        nodes,
        "test",
        [onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, ["N", *input_shape[1:]])],
        [onnx.helper.make_tensor_value_info(output, onnx.TensorProto.FLOAT, output_shape)],
        [numpy_helper.from_array(np.asarray(v), k) for k, v in (initializers or {}).items()],
    )
    model = onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", opset)])
    model.ir_version = onnx.helper.find_min_ir_version_for([model.opset_import[0]])
    return model
