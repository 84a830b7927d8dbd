"""Export: every layer type and every example runs identically in onnxruntime."""

from __future__ import annotations

import numpy as np
import onnx
import pytest

from core.engine.model import Model
from core.examples import example_names, example_path
from core.graph.document import NetworkDocument
from core.graph.fileformat import load_network
from core.layers import layer_types
from core.onnx_io.export import DEFAULT_OPSET, OnnxExportError, export_model, save_onnx
from tests.core.engine.test_gradients import CASES
from tests.core.onnx_io.helpers import randomize, relative_difference, run_onnx


def test_every_layer_type_is_exported_by_some_case():
    exported = {node.type_name for doc in CASES.values() for node in doc.nodes}
    assert {cls.type_name for cls in layer_types()} <= exported


@pytest.mark.parametrize("opset", [DEFAULT_OPSET, 11, 9, 8, 7])
@pytest.mark.parametrize("case", sorted(CASES))
def test_each_layer_case_matches_onnxruntime(case, opset):
    # Opsets 7 and 8 are IR 3, whose graphs list the initialisers among their inputs.
    model = Model(CASES[case], seed=1)
    randomize(model)
    if any(n.type_name == "LRN" and n.layer.params["size"] % 2 == 0 for n in model.order):
        with pytest.raises(OnnxExportError, match="layer 'under_test': onnxruntime runs LRN with an odd size only"):
            export_model(model, opset)
        return
    if opset < 9 and any(n.type_name == "GELU" and n.layer.params["approximate"] == "none" for n in model.order):
        with pytest.raises(OnnxExportError, match=f"the exact GELU needs ONNX's Erf, which opset {opset} lacks"):
            export_model(model, opset)
        return
    exported = export_model(model, opset)
    x = np.random.default_rng(2).standard_normal((3, *model.input_shape)).astype(np.float32)
    assert relative_difference(model.forward(x), run_onnx(exported, x)) <= 1e-4


@pytest.mark.parametrize("name", example_names())
def test_every_example_matches_onnxruntime_with_a_dynamic_batch(name):
    model = Model(load_network(example_path(name)), seed=0)
    randomize(model, seed=3)
    exported = export_model(model)
    graph = exported.graph
    assert graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    assert exported.ir_version == onnx.helper.find_min_ir_version_for([exported.opset_import[0]])
    node_names = {n.name for n in graph.node}
    assert {n.name for n in model.order if n.type_name not in ("Input", "Dropout")} <= node_names
    assert not any(n.op_type == "Dropout" for n in graph.node)
    for batch in (1, 3):
        x = np.random.default_rng(batch).random((batch, *model.input_shape), dtype=np.float32)
        assert relative_difference(model.forward(x), run_onnx(exported, x)) <= 1e-4


def test_save_writes_a_checked_file(tmp_path):
    model = Model(load_network(example_path("lenet5")))
    path = tmp_path / "lenet.onnx"
    save_onnx(model, path)
    onnx.checker.check_model(str(path), full_check=True)


def test_out_of_range_opset_is_refused():
    model = Model(load_network(example_path("mlp")))
    with pytest.raises(OnnxExportError, match="opset must be between 7 and"):
        export_model(model, opset=3)


def test_a_network_that_is_only_its_input_still_exports():
    doc = NetworkDocument("passthrough")
    entry = doc.add_node("Input", {"shape": [4]}, name="x")
    doc.chain(entry.id, [("Dropout", None, "drop")])
    exported = export_model(Model(doc))
    x = np.ones((2, 4), np.float32)
    assert np.array_equal(run_onnx(exported, x), x) and exported.graph.output[0].name == "drop"
