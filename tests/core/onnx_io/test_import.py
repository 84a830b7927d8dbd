"""Import: hand-built models per supported op, round trips, real models, refusals."""

from __future__ import annotations

import re

import numpy as np
import onnx
import pytest
from onnx import helper

from core.analysis.receptive_field import receptive_fields
from core.engine.model import Model
from core.examples import example_names, example_path
from core.graph.fileformat import load_network
from core.onnx_io.export import export_model
from core.onnx_io.importer import OnnxImportError, import_model, import_onnx
from tests.core.onnx_io.helpers import (
    LIGHT_MODELS,
    build_model,
    randomize,
    relative_difference,
    run_onnx,
    with_random_weights,
    without_final_softmax,
)

RNG = np.random.default_rng(0)


def engine(imported):
    model = Model(imported.document)
    model.load_state_dict(imported.weights)
    return model


def assert_same_as_onnxruntime(onnx_model, batch=2, logits=False):
    model = engine(import_model(onnx_model))
    x = np.random.default_rng(1).standard_normal((batch, *model.input_shape)).astype(np.float32)
    ours = model.forward_logits(x) if logits else model.forward(x)
    assert relative_difference(ours, run_onnx(onnx_model, x)) <= 1e-4
    return model


def w(*shape):
    return RNG.standard_normal(shape).astype(np.float32) * 0.3


def n(op, inputs, outputs, **attributes):
    return helper.make_node(op, inputs, outputs, name=outputs[0], **attributes)


CASES = {
    "conv_asymmetric_pads_bias": (
        [n("Conv", ["x", "W", "B"], ["y"], pads=[1, 0, 2, 1], strides=[2, 1])],
        (1, 3, 9, 8),
        {"W": w(4, 3, 3, 3), "B": w(4)},
    ),
    "conv_same_lower_grouped": (
        [n("Conv", ["x", "W"], ["y"], auto_pad="SAME_LOWER", strides=[2, 2], group=3)],
        (1, 3, 8, 8),
        {"W": w(6, 1, 4, 4)},
    ),
    "conv_same_upper": (
        [n("Conv", ["x", "W"], ["y"], auto_pad="SAME_UPPER", strides=[2, 2])],
        (1, 2, 9, 9),
        {"W": w(3, 2, 4, 4)},
    ),
    "conv_dilated_padded": (
        [n("Conv", ["x", "W"], ["y"], dilations=[2, 2], pads=[2, 2, 2, 2])],
        (1, 2, 9, 9),
        {"W": w(3, 2, 3, 3)},
    ),
    "conv_valid": ([n("Conv", ["x", "W"], ["y"], auto_pad="VALID")], (1, 2, 6, 6), {"W": w(3, 2, 3, 3)}),
    "gemm_trans_b_alpha_beta": (
        [n("Gemm", ["x", "W", "C"], ["y"], transB=1, alpha=0.5, beta=2.0)],
        (1, 6),
        {"W": w(4, 6), "C": w(1, 4)},
    ),
    "gemm_plain": ([n("Gemm", ["x", "W"], ["y"])], (1, 6), {"W": w(6, 4)}),
    "matmul_add": ([n("MatMul", ["x", "W"], ["m"]), n("Add", ["m", "b"], ["y"])], (1, 5), {"W": w(5, 3), "b": w(3)}),
    "sum_of_three": (
        [
            n("Relu", ["x"], ["a"]),
            n("Sigmoid", ["x"], ["b"]),
            n("Tanh", ["x"], ["c"]),
            n("Sum", ["a", "b", "c"], ["y"]),
        ],
        (1, 2, 4, 4),
        {},
    ),
    "per_channel_mul_add": (
        [n("Mul", ["x", "s"], ["m"]), n("Add", ["m", "t"], ["y"])],
        (1, 3, 4, 4),
        {"s": w(1, 3, 1, 1), "t": w(3, 1, 1)},
    ),
    "sub_div_scalar": (
        [n("Sub", ["x", "s"], ["m"]), n("Div", ["m", "d"], ["y"])],
        (1, 2, 3, 3),
        {"s": np.float32(0.5), "d": np.float32(2.0)},
    ),
    "conv_then_bias_add": (
        [n("Conv", ["x", "W"], ["c"]), n("Add", ["c", "b"], ["y"])],
        (1, 2, 5, 5),
        {"W": w(3, 2, 3, 3), "b": w(1, 3, 1, 1)},
    ),
    "channel_shuffle": (
        [
            n("Reshape", ["x", "s1"], ["r1"]),
            n("Transpose", ["r1"], ["t"], perm=[0, 2, 1, 3, 4]),
            n("Reshape", ["t", "s2"], ["y"]),
        ],
        (1, 6, 3, 3),
        {"s1": np.array([0, 2, 3, 3, 3]), "s2": np.array([0, 6, 3, 3])},
    ),
    "folded_shape_chain_reshape": (
        [
            n("Relu", ["x"], ["r"]),
            n("Shape", ["r"], ["shape"]),
            n("Gather", ["shape", "zero"], ["batch"], axis=0),
            n("Unsqueeze", ["batch", "axes"], ["b1"]),
            n("Concat", ["b1", "minus"], ["target"], axis=0),
            n("Reshape", ["r", "target"], ["y"]),
        ],
        (1, 2, 3, 3),
        {"zero": np.array(0), "axes": np.array([0]), "minus": np.array([-1])},
    ),
    "constant_of_shape_weights": (
        [
            helper.make_node(
                "ConstantOfShape", ["wshape"], ["W"], value=helper.make_tensor("v", onnx.TensorProto.FLOAT, [1], [0.1])
            ),
            n("Conv", ["x", "W"], ["y"]),
        ],
        (1, 2, 5, 5),
        {"wshape": np.array([3, 2, 3, 3])},
    ),
    "pools": (
        [
            n("MaxPool", ["x"], ["a"], kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1),
            n("AveragePool", ["a"], ["y"], kernel_shape=[2, 2], pads=[1, 1, 1, 1], count_include_pad=1),
        ],
        (1, 2, 10, 10),
        {},
    ),
    "avg_pool_ceil_excluding_pad": (
        [n("AveragePool", ["x"], ["y"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1], ceil_mode=1)],
        (1, 2, 8, 8),
        {},
    ),
    "global_pool_squeeze": (
        [n("GlobalAveragePool", ["x"], ["g"]), n("Squeeze", ["g", "axes"], ["y"])],
        (1, 3, 4, 4),
        {"axes": np.array([2, 3])},
    ),
    "flatten_softmax_opset11": ([n("Flatten", ["x"], ["f"]), n("Softmax", ["f"], ["y"])], (1, 2, 2, 2), {}),
    "activations": (
        [
            n("LeakyRelu", ["x"], ["a"], alpha=0.2),
            n("Elu", ["a"], ["b"], alpha=0.5),
            n("LRN", ["b"], ["y"], size=3, alpha=0.3, beta=0.6, bias=1.5),
        ],
        (1, 4, 3, 3),
        {},
    ),
    "dropout_ratio_input_and_concat": (
        [n("Dropout", ["x", "ratio"], ["d"]), n("Relu", ["x"], ["r"]), n("Concat", ["d", "r"], ["y"], axis=1)],
        (1, 2, 3, 3),
        {"ratio": np.float32(0.3)},
    ),
    "batch_norm": (
        [n("BatchNormalization", ["x", "s", "b", "m", "v"], ["y"], epsilon=1e-3)],
        (1, 3, 4, 4),
        {"s": w(3), "b": w(3), "m": w(3), "v": np.abs(w(3)) + 0.5},
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_each_supported_op_imports_and_matches_onnxruntime(case):
    nodes, shape, constants = CASES[case]
    opset = 11 if case.endswith("opset11") else 17
    assert_same_as_onnxruntime(build_model(nodes, shape, nodes[-1].output[0], constants, opset=opset))


def test_patterns_become_single_layers():
    model = engine(import_model(build_model(*[CASES["matmul_add"][0], (1, 5), "y", CASES["matmul_add"][2]])))
    assert [n.type_name for n in model.order] == ["Input", "Dense"] and model.order[1].layer.params["bias"]
    model = engine(
        import_model(build_model(CASES["per_channel_mul_add"][0], (1, 3, 4, 4), "y", CASES["per_channel_mul_add"][2]))
    )
    assert [n.type_name for n in model.order] == ["Input", "Scale"]
    model = engine(
        import_model(build_model(CASES["channel_shuffle"][0], (1, 6, 3, 3), "y", CASES["channel_shuffle"][2]))
    )
    assert [n.type_name for n in model.order] == ["Input", "ChannelShuffle"] and model.order[1].layer.params[
        "groups"
    ] == 2


def test_softmax_axis_semantics_change_at_opset_13():
    # Opset 11: axis=1 normalises over C·H·W together, which no layer does for a 2×2 map.
    nodes = [n("Softmax", ["x"], ["y"], axis=1)]
    with pytest.raises(OnnxImportError, match="softmax over axis 1 of a 3×2×2 tensor \\(opset 11\\)"):
        import_model(build_model(nodes, (1, 3, 2, 2), "y", opset=11))
    assert_same_as_onnxruntime(build_model(nodes, (1, 3, 2, 2), "y", opset=13))


@pytest.mark.parametrize("name", example_names())
def test_round_trip_export_import_export(name):
    model = Model(load_network(example_path(name)), seed=0)
    randomize(model, seed=4)
    first = export_model(model)
    imported = engine(import_model(first))
    second = export_model(imported)
    x = np.random.default_rng(5).random((2, *model.input_shape), dtype=np.float32)
    expected = run_onnx(first, x)
    assert relative_difference(imported.forward(x), expected) <= 1e-4
    assert relative_difference(run_onnx(second, x), expected) <= 1e-4


def test_unsupported_ops_are_listed_together_and_nothing_is_returned():
    nodes = [n("Hardmax", ["x"], ["a"]), n("Relu", ["a"], ["b"]), n("Tile", ["b", "reps"], ["y"])]
    model = build_model(nodes, (1, 2, 3, 3), "y", {"reps": np.array([1, 1, 2, 2])})
    with pytest.raises(OnnxImportError) as info:
        import_model(model)
    message = str(info.value)
    assert message.startswith("the model uses operations Layerwise cannot represent (2 nodes): Hardmax (a)")
    assert "Tile (y)" in message and "Relu" not in message


def test_several_inputs_or_outputs_are_refused():
    graph = helper.make_graph(
        [n("Add", ["x", "z"], ["y"])],
        "two",
        [helper.make_tensor_value_info(k, onnx.TensorProto.FLOAT, [1, 3]) for k in ("x", "z")],
        [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1, 3])],
    )
    with pytest.raises(OnnxImportError, match="2 data inputs \\('x', 'z'\\)"):
        import_model(helper.make_model(graph))
    model = build_model([n("Relu", ["x"], ["a"]), n("Tanh", ["x"], ["b"])], (1, 3), "a")
    model.graph.output.append(helper.make_tensor_value_info("b", onnx.TensorProto.FLOAT, None))
    with pytest.raises(OnnxImportError, match="2 outputs \\('a', 'b'\\)"):
        import_model(model)


def test_broken_files_are_refused_with_their_name(tmp_path):
    good = tmp_path / "good.onnx"
    onnx.save(export_model(Model(load_network(example_path("lenet5")))), str(good))
    truncated = tmp_path / "truncated.onnx"
    truncated.write_bytes(good.read_bytes()[:500])
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"\x00\xffnot protobuf" * 10)
    for path in (truncated, garbage):
        with pytest.raises(OnnxImportError, match=f"{path}: is not"):
            import_onnx(path)
    with pytest.raises(OnnxImportError, match="cannot be read"):
        import_onnx(tmp_path / "absent.onnx")


def test_external_data_outside_the_model_folder_is_refused(tmp_path):
    model = build_model([n("Conv", ["x", "W"], ["y"])], (1, 2, 5, 5), "y", {"W": w(3, 2, 3, 3)})
    tensor = model.graph.initializer[0]
    tensor.ClearField("raw_data")
    tensor.ClearField("float_data")
    tensor.data_location = onnx.TensorProto.EXTERNAL
    entry = tensor.external_data.add()
    entry.key, entry.value = "location", "../../etc/passwd"
    path = tmp_path / "model.onnx"
    path.write_bytes(model.SerializeToString())
    with pytest.raises(
        OnnxImportError, match=re.escape("external data '../../etc/passwd' lies outside the model's folder")
    ):
        import_onnx(path)


LIGHT = sorted(LIGHT_MODELS.glob("*.onnx"))


def test_the_installed_onnx_ships_the_classic_models():
    names = {p.stem.removeprefix("light_") for p in LIGHT}
    assert {
        "bvlc_alexnet",
        "inception_v1",
        "inception_v2",
        "resnet50",
        "vgg19",
        "squeezenet",
        "densenet121",
        "zfnet512",
        "shufflenet",
    } <= names


@pytest.mark.parametrize("path", LIGHT, ids=lambda p: p.stem)
def test_real_models_import_match_onnxruntime_and_export_again(path):
    original = without_final_softmax(with_random_weights(onnx.load(str(path))))
    model = assert_same_as_onnxruntime(original, batch=1, logits=True)
    x = np.random.default_rng(7).standard_normal((1, *model.input_shape)).astype(np.float32)
    assert relative_difference(run_onnx(export_model(model), x), run_onnx(original, x)) <= 1e-4


def test_imported_alexnet_has_its_published_receptive_field():
    imported = import_model(with_random_weights(onnx.load(str(LIGHT_MODELS / "light_bvlc_alexnet.onnx"))))
    doc = imported.document
    pool5 = [node for node in doc.nodes if node.type_name == "MaxPool2D"][-1]  # the light model names nodes n0, n1 …
    field = receptive_fields(doc)[pool5.id]
    assert (field.size, field.stride, field.padding) == ((195, 195), (32, 32), (64, 64))


def test_non_finite_weights_are_refused_naming_the_node(tmp_path):
    from onnx import TensorProto, helper, numpy_helper

    from core.errors import LayerwiseError
    from core.onnx_io.importer import import_onnx

    matrix = np.array([[np.inf, 0.0], [1.0, 2.0]], np.float32)
    graph = helper.make_graph(
        [helper.make_node("Gemm", ["x", "W"], ["y"], transB=1, name="fc")],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 2])],
        [numpy_helper.from_array(matrix, "W")],
    )
    path = tmp_path / "inf.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    with pytest.raises(LayerwiseError, match=r"Gemm \(fc\): its weight holds NaN or infinite values"):
        import_onnx(path)


def test_an_initializer_with_impossible_dims_is_refused_naming_it():
    # Empty (a zero dim) yet too big for NumPy: found by the fuzzer.
    model = build_model([n("Relu", ["x"], ["y"])], (1, 3), "y")
    model.graph.initializer.append(
        helper.make_tensor("huge", onnx.TensorProto.FLOAT, [0, 2**62, 8], vals=b"", raw=True)
    )
    with pytest.raises(OnnxImportError, match=r"initializer 'huge' is damaged: .*dims \[0, 4611686018427387904, 8\]"):
        import_model(model)
