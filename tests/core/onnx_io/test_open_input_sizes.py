"""Models whose input leaves sizes open (``torch.onnx.export`` with dynamic axes) import at a given sample shape."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import main
from core.engine.model import Model
from core.onnx_io.importer import OnnxImportError, OpenInputSizes, import_model, import_onnx
from tests.core.onnx_io.helpers import run_onnx


def open_model(dims=("N", 3, "height", "width")) -> onnx.ModelProto:
    """A 1×1 convolution, global pooling and flatten over an input of open height and width."""
    weight = np.random.default_rng(0).standard_normal((4, 3, 1, 1)).astype(np.float32)
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["c"], "conv"),
        helper.make_node("GlobalAveragePool", ["c"], ["g"], "pool"),
        helper.make_node("Flatten", ["g"], ["y"], "flat"),
    ]
    graph = helper.make_graph(
        nodes,
        "open",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(dims))],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4])],
        [numpy_helper.from_array(weight, "w")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


def test_open_sizes_are_refused_with_the_shape_to_give():
    with pytest.raises(OpenInputSizes) as caught:
        import_model(open_model())
    assert caught.value.input_name == "x" and caught.value.sizes == [3, None, None]
    assert caught.value.suggestion() == [3, 224, 224]
    assert "has shape [?, 3, ?, ?], with sizes left open" in str(caught.value)
    assert "--input-shape 3,224,224" in str(caught.value)


def test_a_given_shape_imports_and_computes_what_onnxruntime_does():
    imported = import_model(open_model(), input_shape=[3, 20, 30])
    model = Model(imported.document)
    model.load_state_dict(imported.weights)
    assert tuple(model.input_shape) == (3, 20, 30)
    assert imported.model_notes == ["input 'x' of shape [?, 3, ?, ?] is imported at 3×20×30"]
    x = np.random.default_rng(1).standard_normal((2, 3, 20, 30)).astype(np.float32)
    np.testing.assert_allclose(model.forward(x), run_onnx(open_model(), x), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    ("shape", "words"),
    [
        ([1, 20, 30], "its fixed sizes stay as they are: 3 (not 1)"),
        ([3, 20], "give 3 whole number(s) ≥ 1 (C, H, W), without the batch"),
        ([3, 0, 30], "give 3 whole number(s) ≥ 1"),
    ],
)
def test_a_shape_that_does_not_fit_is_refused_naming_both(shape, words):
    with pytest.raises(OnnxImportError) as caught:
        import_model(open_model(), input_shape=shape)
    assert not isinstance(caught.value, OpenInputSizes)
    assert words in str(caught.value) and "input 'x' of shape [?, 3, ?, ?]" in str(caught.value)


def test_a_fixed_model_takes_a_matching_shape_without_a_note():
    imported = import_model(open_model(("N", 3, 8, 8)), input_shape=[3, 8, 8])
    assert imported.model_notes == []


def test_the_file_name_stays_in_the_message(tmp_path):
    onnx.save(open_model(), tmp_path / "open.onnx")
    with pytest.raises(OpenInputSizes) as caught:
        import_onnx(tmp_path / "open.onnx")
    assert str(caught.value).startswith(f"{tmp_path / 'open.onnx'}: input 'x'")


def test_the_command_line_takes_input_shape(tmp_path, capsys):
    onnx.save(open_model(), tmp_path / "open.onnx")
    assert main.main(["import", str(tmp_path / "open.onnx"), "-o", str(tmp_path / "net.json")]) == 2
    assert "--input-shape 3,224,224" in capsys.readouterr().err
    status = main.main(
        ["import", str(tmp_path / "open.onnx"), "-o", str(tmp_path / "net.json"), "--input-shape", "3x40x50"]
    )
    captured = capsys.readouterr()
    assert status == 0, captured.err
    assert "is imported at 3×40×50" in captured.err
    assert main.main(["info", str(tmp_path / "net.json")]) == 0
    assert "3×40×50" in capsys.readouterr().out
