"""Import of per-sample normalisations, products and channels-last forms, on graphs built with onnx.helper.

Each graph is written the way an exporter (torch, or Layerwise's own at some opset) writes
it; the import must give the expected layers and compute what onnxruntime computes.
"""

from __future__ import annotations

import numpy as np
import pytest

from core.engine.model import Model
from core.graph.document import NetworkDocument
from core.onnx_io.export import export_model
from core.onnx_io.importer import OnnxImportError, import_model
from tests.core.onnx_io.helpers import build_model, randomize
from tests.core.onnx_io.test_import import assert_same_as_onnxruntime, n, w


def chain(input_shape: tuple[int, ...], *layers: tuple[str, dict]) -> NetworkDocument:
    """``Input → layers…``; each layer is ``(type name, parameters)``."""
    document = NetworkDocument("test")
    entry = document.add_node("Input", {"shape": list(input_shape)}, name="input")
    document.chain(entry.id, [(type_name, params, None) for type_name, params in layers])
    return document


def layers(model: Model) -> list[tuple[str, str, dict]]:
    """Type, name and parameters of each layer after the input."""
    return [(node.type_name, node.name, dict(node.layer.params)) for node in model.order[1:]]


def inputs_of(model: Model, name: str) -> list[str]:
    node = model.document.node_by_name(name)
    return [source.name for source in model.document.inputs_of(node.id)]


# -- GroupNorm ---------------------------------------------------------------------------------


@pytest.mark.parametrize("opset", [9, 11, 17])
def test_torch_group_norm_is_one_group_norm(opset):
    # torch.onnx.export of nn.GroupNorm(2, 6): InstanceNormalization of N × 2 × rest, then the affine.
    nodes = [
        n("Reshape", ["x", "grouped"], ["r"]),
        n("InstanceNormalization", ["r", "s", "b"], ["i"], epsilon=1e-3),
        n("Shape", ["x"], ["shape"]),
        n("Reshape", ["i", "shape"], ["u"]),
        n("Mul", ["u", "gamma"], ["m"]),
        n("Add", ["m", "beta"], ["y"]),
    ]
    constants = {"grouped": np.array([0, 2, -1]), "s": w(2), "b": w(2), "gamma": w(6, 1, 1), "beta": w(6, 1, 1)}
    model = assert_same_as_onnxruntime(build_model(nodes, (1, 6, 4, 5), "y", constants, opset=opset))
    assert layers(model) == [("GroupNorm", "y", {"groups": 2, "epsilon": 1e-3})]


def test_group_norm_of_features_through_instance_normalisation():
    nodes = [
        n("Reshape", ["x", "grouped"], ["r"]),
        n("InstanceNormalization", ["r", "s", "b"], ["i"]),
        n("Reshape", ["i", "back"], ["y"]),
    ]
    constants = {"grouped": np.array([0, 3, -1]), "back": np.array([-1, 6]), "s": w(3), "b": w(3)}
    model = assert_same_as_onnxruntime(build_model(nodes, (1, 6), "y", constants))
    assert layers(model) == [("GroupNorm", "y", {"groups": 3, "epsilon": 1e-5})]


def test_groups_that_split_a_channel_are_no_group_norm():
    # 3 channels of 4×4 in 2 groups of 24 values: each group cuts through channel 1.
    nodes = [
        n("Reshape", ["x", "grouped"], ["r"]),
        n("InstanceNormalization", ["r", "s", "b"], ["i"]),
        n("Reshape", ["i", "back"], ["y"]),
    ]
    constants = {"grouped": np.array([0, 2, -1]), "back": np.array([0, 3, 4, 4]), "s": w(2), "b": w(2)}
    with pytest.raises(OnnxImportError, match=r"Reshape \(r\)"):
        import_model(build_model(nodes, (1, 3, 4, 4), "y", constants))


def test_instance_normalisation_is_a_group_norm_of_one_channel_per_group():
    nodes = [n("InstanceNormalization", ["x", "s", "b"], ["y"], epsilon=1e-4)]
    model = assert_same_as_onnxruntime(build_model(nodes, (1, 3, 5, 4), "y", {"s": w(3), "b": w(3)}))
    assert layers(model) == [("GroupNorm", "y", {"groups": 3, "epsilon": 1e-4})]


def test_group_normalization_of_opset_21_scales_per_channel():
    nodes = [n("GroupNormalization", ["x", "s", "b"], ["y"], num_groups=2, epsilon=1e-3)]
    model = assert_same_as_onnxruntime(build_model(nodes, (1, 4, 3, 3), "y", {"s": w(4), "b": w(4)}, opset=21))
    assert layers(model) == [("GroupNorm", "y", {"groups": 2, "epsilon": 1e-3})]


def test_group_normalization_of_opset_18_scales_per_group():
    # Deprecated since opset 21 (onnxruntime no longer runs it): compare with the formula.
    scale, bias = w(2), w(2)
    nodes = [n("GroupNormalization", ["x", "s", "b"], ["y"], num_groups=2)]
    imported = import_model(build_model(nodes, (1, 4, 3, 3), "y", {"s": scale, "b": bias}, opset=18))
    model = Model(imported.document, dtype=np.float64)
    model.load_state_dict(imported.weights)
    x = np.random.default_rng(0).standard_normal((2, 4, 3, 3))
    grouped = x.reshape(2, 2, -1)
    normalised = (grouped - grouped.mean(2, keepdims=True)) / np.sqrt(grouped.var(2, keepdims=True) + 1e-5)
    expected = normalised.reshape(x.shape) * np.repeat(scale, 2)[:, None, None] + np.repeat(bias, 2)[:, None, None]
    np.testing.assert_allclose(model.forward(x), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("opset", [21, 22])
def test_group_norm_exports_as_group_normalization_from_opset_21(opset):
    model = Model(chain((6, 4, 4), ("GroupNorm", {"groups": 3})), seed=1)
    randomize(model, seed=2)
    exported = export_model(model, opset)
    assert [node.op_type for node in exported.graph.node] == ["GroupNormalization"]
    imported = assert_same_as_onnxruntime(exported)
    assert layers(imported) == [("GroupNorm", "gn", {"groups": 3, "epsilon": 1e-5})]
    np.testing.assert_allclose(imported.state_dict()["gn/gamma"], model.state_dict()["gn/gamma"])


# -- LayerNorm ---------------------------------------------------------------------------------


def test_layer_normalization_over_a_whole_map_is_a_layer_norm_over_all():
    nodes = [n("LayerNormalization", ["x", "s", "b"], ["y"], axis=1, epsilon=1e-3)]
    model = assert_same_as_onnxruntime(build_model(nodes, (1, 3, 4, 5), "y", {"s": w(3, 4, 5), "b": w(3, 4, 5)}))
    assert layers(model) == [("LayerNorm", "y", {"over": "all", "epsilon": 1e-3})]


def test_layer_normalization_of_features_without_bias():
    nodes = [n("LayerNormalization", ["x", "s"], ["y"])]
    model = assert_same_as_onnxruntime(build_model(nodes, (1, 7), "y", {"s": w(7)}))
    assert layers(model) == [("LayerNorm", "y", {"over": "channels", "epsilon": 1e-5})]


def test_layer_normalization_over_the_width_alone_is_refused():
    nodes = [n("LayerNormalization", ["x", "s", "b"], ["y"], axis=-1)]
    with pytest.raises(OnnxImportError, match=r"LayerNormalization \(y\): normalising an N×3×4×5 tensor from axis -1"):
        import_model(build_model(nodes, (1, 3, 4, 5), "y", {"s": w(5), "b": w(5)}))


def decomposition(source, axes, opset, square="Pow"):
    """torch's LayerNorm before opset 17: nodes reading ``source``, ending in tensor ``q``; and their constants."""
    if opset >= 18:  # ReduceMean's axes became an input
        means = [n("ReduceMean", [source, "axes"], ["mean"]), n("ReduceMean", ["sq", "axes"], ["var"])]
    else:
        means = [n("ReduceMean", [source], ["mean"], axes=axes), n("ReduceMean", ["sq"], ["var"], axes=axes)]
    squaring = n("Pow", ["d", "two"], ["sq"]) if square == "Pow" else n("Mul", ["d", "d"], ["sq"])
    nodes = [
        means[0], n("Sub", [source, "mean"], ["d"]), squaring, means[1],
        n("Add", ["var", "eps"], ["ve"]), n("Sqrt", ["ve"], ["std"]), n("Div", ["d", "std"], ["q"]),
    ]  # fmt: skip
    constants = {"two": np.array(2.0, np.float32), "eps": np.array(1e-5, np.float32), "axes": np.array(axes)}
    return nodes, constants


@pytest.mark.parametrize(
    ("opset", "square", "with_layer_normalization"),
    [(11, "Pow", False), (11, "Mul", False), (18, "Pow", False), (17, "", True)],
)
def test_channels_last_layer_norm_is_a_layer_norm_over_channels(opset, square, with_layer_normalization):
    # ConvNeXt's LayerNorm as torch writes it: over the last axis of N×H×W×C, between transposes.
    if with_layer_normalization:
        core = [n("LayerNormalization", ["t", "s", "b"], ["q"], axis=-1, epsilon=1e-5)]
        constants = {"s": w(4), "b": w(4)}
    else:
        core, constants = decomposition("t", [-1], opset, square)
    nodes = [
        n("Transpose", ["x"], ["t"], perm=[0, 2, 3, 1]), *core,
        n("Mul", ["q", "gamma"], ["g"]), n("Add", ["g", "beta"], ["a"]),
        n("Transpose", ["a"], ["y"], perm=[0, 3, 1, 2]),
    ]  # fmt: skip
    constants.update(gamma=w(4), beta=w(4))
    model = assert_same_as_onnxruntime(build_model(nodes, (1, 4, 3, 5), "y", constants, opset=opset))
    # Read on the channels-last view; γ and β join it at the Add that completes it.
    assert layers(model) == [("LayerNorm", "a", {"over": "channels", "epsilon": 1e-5})]


@pytest.mark.parametrize(
    ("axes", "expected"),
    [
        ([1], ("LayerNorm", {"over": "channels", "epsilon": 1e-5})),
        ([1, 2, 3], ("LayerNorm", {"over": "all", "epsilon": 1e-5})),
        ([-2, -1], ("GroupNorm", {"groups": 3, "epsilon": 1e-5})),
    ],
)
def test_a_normalisation_written_out_on_a_map(axes, expected):
    core, constants = decomposition("x", axes, 11)
    affine = (3, 4, 5) if axes == [1, 2, 3] else (3, 1, 1)
    nodes = [*core, n("Mul", ["q", "gamma"], ["g"]), n("Add", ["g", "beta"], ["y"])]
    constants.update(gamma=w(*affine), beta=w(*affine))
    model = assert_same_as_onnxruntime(build_model(nodes, (1, 3, 4, 5), "y", constants, opset=11))
    assert layers(model) == [(expected[0], "y", expected[1])]


def test_a_normalisation_written_out_over_other_axes_is_refused():
    core, constants = decomposition("x", [2], 11)
    with pytest.raises(OnnxImportError, match=r"Div \(q\): normalising an N×3×4×5 tensor over axes \[2\] has no layer"):
        import_model(build_model([*core, n("Relu", ["q"], ["y"])], (1, 3, 4, 5), "y", constants, opset=11))


def test_a_normalisation_whose_mean_is_read_elsewhere_is_not_taken_in():
    core, constants = decomposition("x", [1], 11)
    nodes = [*core, n("Add", ["q", "mean"], ["y"])]
    with pytest.raises(OnnxImportError, match=r"ReduceMean.*\bmean\b"):
        import_model(build_model(nodes, (1, 3, 4, 5), "y", constants, opset=11))


# -- Multiply ----------------------------------------------------------------------------------


def test_a_product_of_two_maps_is_a_multiply():
    nodes = [n("Sigmoid", ["x"], ["s"]), n("Tanh", ["x"], ["t"]), n("Mul", ["s", "t"], ["y"])]
    model = assert_same_as_onnxruntime(build_model(nodes, (1, 3, 4, 4), "y"))
    assert [node.type_name for node in model.order] == ["Input", "Sigmoid", "Tanh", "Multiply"]


def test_a_channel_gate_before_the_map_becomes_input_2():
    # Squeeze-and-excitation: a sigmoid of the pooled channels scales the map.
    nodes = [
        n("GlobalAveragePool", ["x"], ["p"]), n("Conv", ["p", "W"], ["c"]), n("Sigmoid", ["c"], ["s"]),
        n("Mul", ["s", "x"], ["y"]),
    ]  # fmt: skip
    model = assert_same_as_onnxruntime(build_model(nodes, (1, 3, 4, 4), "y", {"W": w(3, 3, 1, 1)}))
    assert inputs_of(model, "y") == ["x", "s"]


@pytest.mark.parametrize(("opset", "op"), [(11, "Unsqueeze"), (13, "Unsqueeze"), (11, "Reshape"), (17, "Reshape")])
def test_a_gate_of_features_made_a_map_is_taken_in(opset, op):
    if op == "Reshape":
        lift, constants = n("Reshape", ["s", "shape"], ["u"]), {"shape": np.array([-1, 3, 1, 1])}
    elif opset >= 13:
        lift, constants = n("Unsqueeze", ["s", "axes"], ["u"]), {"axes": np.array([2, 3])}
    else:
        lift, constants = n("Unsqueeze", ["s"], ["u"], axes=[2, 3]), {}
    nodes = [
        n("GlobalAveragePool", ["x"], ["p"]), n("Flatten", ["p"], ["f"]), n("Gemm", ["f", "W"], ["g"], transB=1),
        n("Sigmoid", ["g"], ["s"]), lift, n("Mul", ["x", "u"], ["y"]),
    ]  # fmt: skip
    constants["W"] = w(3, 3)
    model = assert_same_as_onnxruntime(build_model(nodes, (1, 3, 4, 4), "y", constants, opset=opset))
    assert [node.type_name for node in model.order][-1] == "Multiply" and inputs_of(model, "y") == ["x", "s"]
    assert model.shapes[model.output_node.id] == (3, 4, 4)


def test_a_product_that_broadcasts_over_channels_is_refused():
    # A spatial attention map (1×H×W) times the map: no layer broadcasts that way.
    nodes = [n("Conv", ["x", "W"], ["a"]), n("Mul", ["x", "a"], ["y"])]
    with pytest.raises(OnnxImportError, match=r"Mul \(y\): multiplying N×3×4×4 by N×1×4×4 broadcasts"):
        import_model(build_model(nodes, (1, 3, 4, 4), "y", {"W": w(1, 3, 1, 1)}))


def test_a_constant_factor_is_still_a_scale():
    nodes = [n("Relu", ["x"], ["r"]), n("Mul", ["r", "k"], ["y"])]
    model = assert_same_as_onnxruntime(build_model(nodes, (1, 3, 4, 4), "y", {"k": w(3, 1, 1)}))
    assert [node.type_name for node in model.order] == ["Input", "ReLU", "Scale"]


def test_a_negation_is_a_scale_of_minus_one():
    nodes = [n("Relu", ["x"], ["r"]), n("Neg", ["r"], ["y"])]
    imported = import_model(build_model(nodes, (1, 3, 4, 4), "y"))
    assert [node.type_name for node in imported.document.nodes] == ["Input", "ReLU", "Scale"]
    np.testing.assert_array_equal(imported.weights["y/gamma"], np.full(3, -1, np.float32))
    np.testing.assert_array_equal(imported.weights["y/beta"], np.zeros(3, np.float32))
    assert_same_as_onnxruntime(build_model(nodes, (1, 3, 4, 4), "y"))


def test_softmin_is_a_negation_then_a_softmax():
    # torch.nn.Softmin as torch.onnx.export writes it.
    nodes = [n("Neg", ["x"], ["m"]), n("Softmax", ["m"], ["y"], axis=1)]
    model = assert_same_as_onnxruntime(build_model(nodes, (1, 6), "y", opset=9))
    assert [node.type_name for node in model.order] == ["Input", "Scale", "Softmax"]


def test_a_negation_after_a_scale_joins_it():
    nodes = [n("Mul", ["x", "k"], ["m"]), n("Add", ["m", "b"], ["a"]), n("Neg", ["a"], ["y"])]
    constants = {"k": w(3, 1, 1), "b": w(3, 1, 1)}
    imported = import_model(build_model(nodes, (1, 3, 4, 4), "y", constants))
    assert [(node.type_name, node.name) for node in imported.document.nodes] == [("Input", "x"), ("Scale", "y")]
    np.testing.assert_allclose(imported.weights["y/gamma"], -constants["k"].reshape(3))
    np.testing.assert_allclose(imported.weights["y/beta"], -constants["b"].reshape(3))
    assert_same_as_onnxruntime(build_model(nodes, (1, 3, 4, 4), "y", constants))


# -- single inputs and channels-last linear layers --------------------------------------------


@pytest.mark.parametrize("op", ["Concat", "Sum", "Max", "Min", "Mean"])
def test_an_op_of_one_input_is_that_input(op):
    attributes = {"axis": 1} if op == "Concat" else {}
    nodes = [n("Relu", ["x"], ["r"]), n(op, ["r"], ["m"], **attributes), n("Sigmoid", ["m"], ["y"])]
    model = assert_same_as_onnxruntime(build_model(nodes, (1, 3, 4, 4), "y"))
    assert [node.type_name for node in model.order] == ["Input", "ReLU", "Sigmoid"]


def test_the_maximum_of_two_maps_stays_refused():
    nodes = [n("Relu", ["x"], ["r"]), n("Sigmoid", ["x"], ["s"]), n("Max", ["r", "s"], ["y"])]
    with pytest.raises(OnnxImportError, match=r"cannot represent.*: Max \(y\)"):
        import_model(build_model(nodes, (1, 3, 4, 4), "y"))


@pytest.mark.parametrize("bias", ["none", "(F,)", "first, (1, 1, 1, F)"])
def test_a_channels_last_linear_layer_is_a_pointwise_convolution(bias):
    nodes = [n("Transpose", ["x"], ["t"], perm=[0, 2, 3, 1]), n("MatMul", ["t", "W"], ["m"])]
    constants = {"W": w(4, 6)}
    if bias == "none":
        last = "m"
    else:
        constants["B"] = w(6) if bias == "(F,)" else w(1, 1, 1, 6)
        nodes.append(n("Add", ["m", "B"] if bias == "(F,)" else ["B", "m"], ["a"]))
        last = "a"
    nodes.append(n("Transpose", [last], ["y"], perm=[0, 3, 1, 2]))
    model = assert_same_as_onnxruntime(build_model(nodes, (1, 4, 3, 5), "y", constants))
    params = {"filters": 6, "kernel_size": (1, 1), "bias": bias != "none"}
    assert [(t, name, {k: p[k] for k in params}) for t, name, p in layers(model)] == [("Conv2D", "m", params)]


CONVNEXT_BLOCK = [
    # ConvNeXt's block as torch writes it: the channels stay last from the LayerNorm to the
    # layer scale, across Linear → GELU (erf form) → Linear; then the residual sum.
    n("Conv", ["x", "D", "Db"], ["d"], kernel_shape=[3, 3], pads=[1, 1, 1, 1], group=4),
    n("Transpose", ["d"], ["t"], perm=[0, 2, 3, 1]),
    n("LayerNormalization", ["t", "g", "b"], ["ln"], axis=-1, epsilon=1e-6),
    n("MatMul", ["ln", "W1"], ["m1"]), n("Add", ["B1", "m1"], ["a1"]),
    n("Div", ["a1", "sqrt2"], ["h"]), n("Erf", ["h"], ["e"]), n("Add", ["e", "one"], ["e1"]),
    n("Mul", ["a1", "e1"], ["p"]), n("Mul", ["p", "half"], ["gelu"]),
    n("MatMul", ["gelu", "W2"], ["m2"]), n("Add", ["B2", "m2"], ["a2"]),
    n("Mul", ["a2", "lastscale"], ["s"]),
    n("Transpose", ["s"], ["back"], perm=[0, 3, 1, 2]),
    n("Mul", ["gamma", "back"], ["scaled"]), n("Add", ["scaled", "x"], ["y"]),
]  # fmt: skip
CONVNEXT_CONSTANTS = {
    "D": w(4, 1, 3, 3), "Db": w(4), "g": w(4), "b": w(4), "W1": w(4, 16), "B1": w(16), "W2": w(16, 4), "B2": w(4),
    "sqrt2": np.array(np.sqrt(2), np.float32), "one": np.array(1, np.float32), "half": np.array(0.5, np.float32),
    "lastscale": w(1, 1, 1, 4), "gamma": w(4, 1, 1),
}  # fmt: skip


def test_a_channels_last_block_of_several_layers_imports_layer_by_layer():
    model = assert_same_as_onnxruntime(build_model(CONVNEXT_BLOCK, (1, 4, 5, 6), "y", CONVNEXT_CONSTANTS, opset=17))
    assert [(type_name, name) for type_name, name, _ in layers(model)] == [
        ("DepthwiseConv2D", "d"),
        ("LayerNorm", "ln"),
        ("Conv2D", "m1"),
        ("GELU", "gelu"),
        ("Conv2D", "m2"),
        ("Scale", "scaled"),
        ("Add", "y"),
    ]  # fmt: skip  (the two per-channel scales, either side of the Transpose back, are one Scale)


@pytest.mark.parametrize(
    ("tail", "constants", "message"),
    [
        (
            [n("Flatten", ["t"], ["f"]), n("Relu", ["f"], ["y"])],
            {},
            r"Flatten \(f\): it would be a Flatten layer on a channels-last \(N×H×W×C\) tensor",
        ),
        (
            [n("Add", ["t", "k"], ["a"]), n("Transpose", ["a"], ["y"], perm=[0, 3, 1, 2])],
            {"k": w(3, 5, 4)},
            r"Add \(a\): its constant 'k' of shape \[3, 5, 4\] is not one value per channel",
        ),
        (
            [n("Relu", ["t"], ["y"])],
            {},
            r"the model's output 'y' is a channels-last \(N×H×W×C\) map",
        ),
        (
            [
                n("Transpose", ["x"], ["u"], perm=[0, 2, 3, 1]),
                n("Relu", ["u"], ["r"]),
                n("Add", ["t", "r"], ["a"]),
                n("Transpose", ["a"], ["y"], perm=[0, 3, 1, 2]),
            ],
            {},
            None,
        ),
    ],
    ids=["flatten", "per-position constant", "channels-last output", "two views added"],
)
def test_what_channels_last_tensors_cannot_do_is_refused(tail, constants, message):
    nodes = [n("Transpose", ["x"], ["t"], perm=[0, 2, 3, 1]), *tail]
    model = build_model(nodes, (1, 4, 3, 5), "y", constants)
    if message is None:  # two views of maps: added as the maps are
        assert [type_name for type_name, _, _ in layers(assert_same_as_onnxruntime(model))] == ["ReLU", "Add"]
        return
    with pytest.raises(OnnxImportError, match=message):
        import_model(model)


@pytest.mark.parametrize(("axis", "refusal"), [(3, None), (-1, None), (2, "along axis 2 has no layer")])
def test_views_concatenated_along_their_last_axis_are_a_concat_of_channels(axis, refusal):
    nodes = [
        n("Transpose", ["x"], ["t"], perm=[0, 2, 3, 1]), n("Relu", ["t"], ["r"]), n("Sigmoid", ["t"], ["s"]),
        n("Concat", ["r", "s"], ["c"], axis=axis), n("Transpose", ["c"], ["y"], perm=[0, 3, 1, 2]),
    ]  # fmt: skip
    model = build_model(nodes, (1, 3, 4, 5), "y")
    if refusal is not None:
        with pytest.raises(OnnxImportError, match=rf"Concat \(c\): concatenating channels-last .* {refusal}"):
            import_model(model)
        return
    imported = assert_same_as_onnxruntime(model)
    assert [(type_name, name) for type_name, name, _ in layers(imported)] == [
        ("ReLU", "r"), ("Sigmoid", "s"), ("Concat", "c"),
    ]  # fmt: skip


def test_a_channels_last_view_added_to_a_map_is_refused():
    nodes = [n("Transpose", ["x"], ["t"], perm=[0, 2, 3, 1]), n("Relu", ["x"], ["r"]), n("Add", ["t", "r"], ["y"])]
    with pytest.raises(OnnxImportError, match=r"Add \(y\): it combines a channels-last \(N×H×W×C\) tensor"):
        import_model(build_model(nodes, (1, 4, 4, 4), "y"))


def test_the_shape_of_a_channels_last_view_is_its_own():
    # Slice the map's channels up to the view's axis 1, its height (3 of 4 channels).
    nodes = [
        n("Transpose", ["x"], ["t"], perm=[0, 2, 3, 1]), n("Shape", ["t"], ["shape"]),
        n("Gather", ["shape", "one"], ["ends"], axis=0),
        n("Relu", ["t"], ["r"]), n("Transpose", ["r"], ["back"], perm=[0, 3, 1, 2]),
        n("Slice", ["back", "zero", "ends", "one"], ["y"]),
    ]  # fmt: skip
    constants = {"one": np.array([1], np.int64), "zero": np.array([0], np.int64)}
    model = assert_same_as_onnxruntime(build_model(nodes, (1, 4, 3, 5), "y", constants, opset=13))
    assert layers(model) == [("ReLU", "r", {}), ("ChannelSlice", "y", {"start": 0, "stop": 3})]
