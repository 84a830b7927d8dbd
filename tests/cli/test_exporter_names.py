"""Models named as ``torch.onnx.export`` names them import whole, and numbers stay honest.

The user's report, reproduced without PyTorch: node names start with ``/`` (``/conv1/Conv``),
which the weights file once lost, ending the import with "does not fit the network (missing
/conv1/Conv/bias …)".
"""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import main
from core.engine.model import Model
from core.errors import LayerwiseError
from core.examples import example_path
from core.graph.fileformat import load_network
from core.onnx_io.importer import OnnxImportError, import_model
from tests.core.onnx_io.helpers import relative_difference, run_onnx


def cli(capsys, *argv):
    status = main.main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def torch_named_model() -> onnx.ModelProto:
    """Conv → Relu → Flatten → Gemm as ``torch.onnx.export`` names a small module's nodes and tensors."""
    rng = np.random.default_rng(0)
    initializers = [
        numpy_helper.from_array(rng.standard_normal((4, 2, 3, 3)).astype(np.float32), "conv1.weight"),
        numpy_helper.from_array(rng.standard_normal(4).astype(np.float32), "conv1.bias"),
        numpy_helper.from_array(rng.standard_normal((3, 64)).astype(np.float32), "fc.weight"),
        numpy_helper.from_array(rng.standard_normal(3).astype(np.float32), "fc.bias"),
    ]
    nodes = [
        helper.make_node(
            "Conv", ["input", "conv1.weight", "conv1.bias"], ["/conv1/Conv_output_0"], "/conv1/Conv", pads=[1, 1, 1, 1]
        ),
        helper.make_node("Relu", ["/conv1/Conv_output_0"], ["/relu/Relu_output_0"], "/relu/Relu"),
        helper.make_node("Flatten", ["/relu/Relu_output_0"], ["/Flatten_output_0"], "/Flatten", axis=1),
        helper.make_node("Gemm", ["/Flatten_output_0", "fc.weight", "fc.bias"], ["output"], "/fc/Gemm", transB=1),
    ]
    graph = helper.make_graph(
        nodes,
        "main_graph",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 2, 4, 4])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["batch", 3])],
        initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="pytorch")
    onnx.checker.check_model(model, full_check=True)
    return model


def test_a_model_named_as_torch_exports_imports_and_computes_what_onnxruntime_computes(capsys, tmp_path):
    model = torch_named_model()
    onnx.save(model, tmp_path / "model.onnx")
    network = tmp_path / "net.json"
    status, out, err = cli(capsys, "import", str(tmp_path / "model.onnx"), "-o", str(network))
    assert (status, err) == (0, "")
    assert f"wrote {network} (5 layers) and {network.with_suffix('.npz')} (" in out
    document = load_network(network)
    assert [node.name for node in document.nodes] == ["input", "/conv1/Conv", "/relu/Relu", "/Flatten", "/fc/Gemm"]
    engine = Model(document)
    engine.load_weights(network.with_suffix(".npz"))
    x = np.random.default_rng(1).standard_normal((5, 2, 4, 4)).astype(np.float32)
    expected = run_onnx(model, x)
    assert relative_difference(engine.predict(x), expected) <= 1e-5
    np.save(tmp_path / "x.npy", x)
    status, _, err = cli(
        capsys, "predict", str(network), "--input", str(tmp_path / "x.npy"), "-o", str(tmp_path / "y.npy")
    )
    assert (status, err) == (0, "")
    assert relative_difference(np.load(tmp_path / "y.npy"), expected) <= 1e-5


def test_names_the_document_cannot_hold_are_changed_and_said_so(capsys, tmp_path):
    model = torch_named_model()
    nodes = model.graph.node
    nodes[1].name = "/relu\x00/Relu"  # a NUL: nothing can show it
    nodes[2].name = "/conv1/Conv"  # two nodes of one name
    nodes[3].name = "g" * 300  # beyond the document's 255 characters
    onnx.save(model, tmp_path / "model.onnx")
    network = tmp_path / "net.json"
    status, _, err = cli(capsys, "import", str(tmp_path / "model.onnx"), "-o", str(network))
    assert status == 0
    names = [node.name for node in load_network(network).nodes]
    assert names == ["input", "/conv1/Conv", "/relu\ufffd/Relu", "/conv1/Conv_1", "g" * 255]
    notes = err.splitlines()
    assert notes == [
        (
            "note: Relu node '/relu\\x00/Relu' became layer '/relu\ufffd/Relu': layer name '/relu\\x00/Relu' holds "
            "a control character (U+0000) at position 6, which cannot be shown; names are one line of visible text"
        ),
        "note: Flatten node '/conv1/Conv' became layer '/conv1/Conv_1': another layer has that name",
        (
            f"note: Gemm node '{'g' * 60}…' became layer '{'g' * 255}': layer name '{'g' * 20}'… is 300 characters "
            "long; names have at most 255"
        ),
    ]


def test_refusals_count_the_nodes_of_each_op_and_list_their_names():
    nodes = [
        helper.make_node("Erf", ["input"], ["a"], "/a/Erf"),
        helper.make_node("Erf", ["a"], ["b"], "/b/Erf"),
        helper.make_node("Relu", ["b"], ["c"], "/relu/Relu"),
        helper.make_node("Hardmax", ["c"], ["d"], "/head/Hardmax"),
        helper.make_node("Erf", ["d"], ["output"], "/c/Erf"),
    ]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 3])],
    )
    with pytest.raises(OnnxImportError) as info:
        import_model(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]))
    assert str(info.value) == (
        "the model uses operations Layerwise cannot represent (4 nodes): Erf ×3 (/a/Erf, /b/Erf, /c/Erf); "
        "Hardmax (/head/Hardmax)"
    )


def test_a_refusal_lists_at_most_30_names_and_still_counts_every_op():
    nodes = [helper.make_node("Erf", ["input" if i == 0 else f"t{i}"], [f"t{i + 1}"], f"/e{i}/Erf") for i in range(40)]
    nodes.append(helper.make_node("Hardmax", ["t40"], ["output"], "/h/Hardmax"))
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 3])],
    )
    with pytest.raises(OnnxImportError) as info:
        import_model(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]))
    listed = ", ".join(f"/e{i}/Erf" for i in range(30))
    assert str(info.value) == (
        f"the model uses operations Layerwise cannot represent (41 nodes): Erf ×40 ({listed}, … 10 more); Hardmax"
    )


# -- numbers stay honest ---------------------------------------------------------------------------------


def test_predict_refuses_values_beyond_float32_instead_of_returning_infinity(capsys, tmp_path):
    np.save(tmp_path / "x.npy", np.full((1, 1, 28, 28), 0.5))  # float64 within float32's range: accepted
    huge = np.zeros((2, 1, 28, 28))
    huge[1, 0, 3, 4] = -1e223
    np.save(tmp_path / "huge.npy", huge)
    status, _, err = cli(
        capsys, "predict", "lenet5", "--input", str(tmp_path / "huge.npy"), "-o", str(tmp_path / "y.npy")
    )
    assert status == 2 and not (tmp_path / "y.npy").exists()
    assert err == (
        f"layerwise: {tmp_path / 'huge.npy'}: the array holds values beyond the range of float32 (±3.40282e+38), "
        "the largest in magnitude -1e+223 at [1, 0, 3, 4]\n"
    )
    nan = np.zeros((1, 1, 28, 28))
    nan[0, 0, 0, 5] = np.nan
    np.save(tmp_path / "nan.npy", nan)
    status, _, err = cli(
        capsys, "predict", "lenet5", "--input", str(tmp_path / "nan.npy"), "-o", str(tmp_path / "y.npy")
    )
    assert status == 2 and f"{tmp_path / 'nan.npy'}: the array holds NaN at [0, 0, 0, 5]" in err
    status, _, err = cli(capsys, "predict", "lenet5", "--input", str(tmp_path / "x.npy"), "-o", str(tmp_path / "y.npy"))
    assert (status, err) == (0, "")


def test_the_engine_refuses_samples_it_cannot_represent():
    model = Model(load_network(example_path("lenet5")))
    x = np.zeros((1, 1, 28, 28))
    x[0, 0, 1, 2] = 1e39
    with pytest.raises(LayerwiseError) as info:
        model.predict(x)
    assert str(info.value) == (
        "the batch fed to the network's input 'input' holds values beyond the range of float32 (±3.40282e+38), "
        "the largest in magnitude 1e+39 at [0, 0, 1, 2]"
    )
    x[0, 0, 1, 2] = np.inf
    with pytest.raises(LayerwiseError, match=r"holds an infinite value at \[0, 0, 1, 2\]"):
        model.forward_to(x, [model.output_node.id])
