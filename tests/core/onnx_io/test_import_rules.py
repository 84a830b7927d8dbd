"""Import through the registries: converters derived from layer classes, pattern rules, deferred refusals."""

from __future__ import annotations

import numpy as np
import pytest

from core.layers import register
from core.layers.base import Layer
from core.layers.onnx_reader import (
    UnsupportedNode,
    onnx_converter,
    onnx_pattern,
    remove_onnx_converter,
    remove_onnx_pattern,
)
from core.onnx_io.importer import OnnxImportError, import_model
from core.params import FloatParam
from core.registry import unregister
from tests.core.onnx_io.helpers import build_model
from tests.core.onnx_io.test_import import assert_same_as_onnxruntime, n


class ShrinkForTest(Layer):
    """A throwaway layer type: one ONNX op (that no real layer maps), attributes named after its parameters."""

    type_name = "ShrinkForTest"
    onnx_op = "Shrink"
    category = "Activation"
    summary = "x − bias above lambd, x + bias below −lambd, 0 between."
    param_specs = (FloatParam("lambd", 0.5, "Half-width of the zeroed band."), FloatParam("bias", 0.0, "Shift."))

    def onnx_attributes(self):
        return dict(self.params)


@pytest.fixture
def shrink():
    register(ShrinkForTest)
    yield ShrinkForTest
    unregister(ShrinkForTest.type_name)


SHRINK = build_model([n("Shrink", ["x"], ["y"], lambd=0.25)], (1, 3), "y")


def layers(imported):
    return [
        (node.type_name, node.layer.get_config() if node.layer.is_network_input else dict(node.layer.params))
        for node in imported.document.nodes
    ]


def test_a_registered_class_with_an_onnx_op_imports_without_a_converter(shrink):
    assert layers(import_model(SHRINK)) == [
        ("Input", {"shape": [3]}),
        (shrink.type_name, {"lambd": 0.25, "bias": 0.0}),
    ]


def test_without_the_class_the_op_is_refused():
    with pytest.raises(OnnxImportError, match=r"cannot represent \(1 node\): Shrink \(y\)$"):
        import_model(SHRINK)


def test_an_explicit_converter_wins_over_the_default(shrink):
    @onnx_converter("Shrink")
    def as_sigmoid(reader, node, attrs):
        reader.add_layer(node, "Sigmoid", {}, [node.input[0]])

    try:
        assert [type_name for type_name, _ in layers(import_model(SHRINK))] == ["Input", "Sigmoid"]
    finally:
        remove_onnx_converter("Shrink")


DOUBLE_RECIPROCAL = build_model(
    [n("Reciprocal", ["x"], ["a"]), n("Reciprocal", ["a"], ["b"]), n("Relu", ["b"], ["y"])], (1, 3), "y"
)


@pytest.fixture
def double_reciprocal():
    """A pattern rule that takes in a node nothing maps on its own: 1/(1/x) is x."""

    @onnx_pattern("double reciprocal", anchor="Reciprocal")
    def rule(reader, node, attrs):
        first = reader.producer_node(node.input[0])
        if first is None or first.op_type != "Reciprocal" or reader.uses(node.input[0]) != 1:
            return None
        if not reader.is_computed(first.input[0]):
            raise UnsupportedNode("what it inverts is not computed")
        reader.alias(node.output[0], first.input[0])
        return [first]

    yield
    remove_onnx_pattern("double reciprocal")


def test_a_pattern_rule_takes_in_a_node_refused_before_it(double_reciprocal):
    assert [type_name for type_name, _ in layers(import_model(DOUBLE_RECIPROCAL))] == ["Input", "ReLU"]


def test_without_the_rule_the_first_is_refused():
    # The second reads a refused node's output; an op that could be mapped is not named again.
    with pytest.raises(OnnxImportError, match=r"cannot represent \(1 node\): Reciprocal \(a\)$"):
        import_model(DOUBLE_RECIPROCAL)


def test_a_rule_that_recognises_its_pattern_but_cannot_map_it_names_the_anchor(double_reciprocal):
    nodes = [
        n("Abs", ["x"], ["a"]),
        n("Reciprocal", ["a"], ["b"]),
        n("Reciprocal", ["b"], ["c"]),
        n("Relu", ["c"], ["y"]),
    ]
    with pytest.raises(
        OnnxImportError,
        match=r"cannot represent \(2 nodes\): Abs \(a\); Reciprocal \(c\): what it inverts is not computed$",
    ):
        import_model(build_model(nodes, (1, 3), "y"))


def test_pending_nodes_no_rule_takes_in_are_refused_as_before():
    nodes = [
        n("Reshape", ["x", "s1"], ["r1"]),
        n("Transpose", ["r1"], ["t"], perm=[0, 2, 1, 3, 4]),
        n("Relu", ["t"], ["y"]),
    ]
    model = build_model(nodes, (1, 6, 3, 3), "y", {"s1": np.array([0, 2, 3, 3, 3])})
    with pytest.raises(OnnxImportError) as info:
        import_model(model)
    assert str(info.value) == (
        "the model uses operations Layerwise cannot represent (1 node): Reshape (r1): reshape of a 6×3×3 tensor to "
        "[0, 2, 3, 3, 3]"
    )


def test_a_transpose_that_is_not_to_channels_last_and_back_says_so():
    model = build_model([n("Transpose", ["x"], ["y"], perm=[0, 1, 3, 2])], (1, 2, 3, 3), "y")
    with pytest.raises(OnnxImportError) as info:
        import_model(model)
    assert str(info.value).endswith(
        "Transpose (y): a Transpose with perm [0, 1, 3, 2] of an N×2×3×3 tensor has no layer; only "
        "Transpose(0, 2, 3, 1) of a map to channels-last and Transpose(0, 3, 1, 2) back are followed"
    )


@pytest.mark.parametrize("opset", [9, 11, 17])
def test_zero_padding_then_average_pooling_is_one_layer(opset):
    pads = [0, 0, 1, 2, 0, 0, 2, 1]
    pad = n("Pad", ["x"], ["p"], pads=pads) if opset < 11 else n("Pad", ["x", "pads"], ["p"])
    nodes = [pad, n("AveragePool", ["p"], ["y"], kernel_shape=[3, 3], strides=[2, 2])]
    model = build_model(nodes, (1, 2, 7, 8), "y", {} if opset < 11 else {"pads": np.array(pads)}, opset=opset)
    imported = assert_same_as_onnxruntime(model)
    (pool,) = [node for node in imported.order if node.type_name == "AvgPool2D"]
    assert len(imported.order) == 2 and pool.name == "y"
    assert pool.layer.params["padding"] == (1, 2, 2, 1) and pool.layer.params["count_include_pad"]


def test_padding_that_is_not_zeros_stays_its_own_layer():
    nodes = [n("Pad", ["x", "pads"], ["p"], mode="reflect"), n("AveragePool", ["p"], ["y"], kernel_shape=[2, 2])]
    model = build_model(nodes, (1, 2, 6, 6), "y", {"pads": np.array([0, 0, 1, 1, 0, 0, 1, 1])})
    imported = assert_same_as_onnxruntime(model)
    assert [node.type_name for node in imported.order] == ["Input", "Pad2D", "AvgPool2D"]


def test_channels_last_softmax_before_opset_13_is_one_layer():
    nodes = [
        n("Transpose", ["x"], ["t"], perm=[0, 2, 3, 1]), n("Softmax", ["t"], ["s"], axis=3),
        n("Transpose", ["s"], ["y"], perm=[0, 3, 1, 2]),
    ]  # fmt: skip
    imported = assert_same_as_onnxruntime(build_model(nodes, (1, 4, 3, 2), "y", opset=11))
    assert [(node.type_name, node.name) for node in imported.order] == [("Input", "x"), ("Softmax", "s")]


@pytest.mark.parametrize(
    ("nodes", "constants"),
    [
        ([n("Flatten", ["g"], ["y"])], {}),
        ([n("Reshape", ["g", "shape"], ["y"])], {"shape": np.array([0, -1])}),
        ([n("Squeeze", ["g", "axes"], ["y"])], {"axes": np.array([2, 3])}),
    ],
    ids=["Flatten", "Reshape", "Squeeze"],
)
def test_global_pooling_to_features_is_one_layer(nodes, constants):
    model = build_model([n("GlobalAveragePool", ["x"], ["g"]), *nodes], (1, 3, 4, 4), "y", constants)
    imported = assert_same_as_onnxruntime(model)
    assert [(node.type_name, dict(node.layer.params)) for node in imported.order][1:] == [
        ("GlobalAvgPool2D", {"keepdims": False})
    ]


def test_global_pooling_read_twice_keeps_its_map():
    nodes = [
        n("GlobalAveragePool", ["x"], ["g"]),
        n("Flatten", ["g"], ["f"]),
        n("Relu", ["g"], ["r"]),
        n("Flatten", ["r"], ["h"]),
    ]
    model = build_model([*nodes, n("Concat", ["f", "h"], ["y"], axis=1)], (1, 3, 4, 4), "y")
    imported = assert_same_as_onnxruntime(model)
    assert [node.type_name for node in imported.order].count("Flatten") == 2


def test_mul_then_add_is_one_scale_named_after_the_add():
    nodes = [n("Mul", ["x", "s"], ["m"]), n("Add", ["m", "t"], ["y"])]
    model = build_model(
        nodes, (1, 3, 4, 4), "y", {"s": np.ones((3, 1, 1), np.float32) * 2, "t": np.ones((3, 1, 1), np.float32)}
    )
    imported = assert_same_as_onnxruntime(model)
    assert [(node.type_name, node.name) for node in imported.order] == [("Input", "x"), ("Scale", "y")]


@pytest.mark.parametrize("opset", [9, 11, 17])
def test_a_channel_split_as_pytorch_writes_it_is_two_slices(opset):
    # x.chunk(2, dim=1): two Slices of the channel axis, the second "to the end" (2**63 − 1).
    end = np.iinfo(np.int64).max
    if opset < 10:
        slices = [
            n("Slice", ["x"], ["a"], starts=[0], ends=[3], axes=[1]),
            n("Slice", ["x"], ["b"], starts=[3], ends=[int(end)], axes=[1]),
        ]
        constants = {}
    else:
        slices = [n("Slice", ["x", "s0", "e0", "ax"], ["a"]), n("Slice", ["x", "s1", "e1", "ax"], ["b"])]
        constants = {
            "s0": np.array([0]),
            "e0": np.array([3]),
            "s1": np.array([3]),
            "e1": np.array([end]),
            "ax": np.array([1]),
        }
    nodes = [*slices, n("Relu", ["b"], ["r"]), n("Concat", ["r", "a"], ["y"], axis=1)]
    imported = assert_same_as_onnxruntime(build_model(nodes, (1, 6, 3, 3), "y", constants, opset=opset))
    params = {node.name: dict(node.layer.params) for node in imported.order if node.type_name == "ChannelSlice"}
    assert params == {"a": {"start": 0, "stop": 3}, "b": {"start": 3, "stop": 6}}


def test_a_slice_of_another_axis_is_refused_naming_it():
    nodes = [n("Slice", ["x", "s", "e", "ax"], ["y"])]
    constants = {"s": np.array([0]), "e": np.array([2]), "ax": np.array([2])}
    with pytest.raises(OnnxImportError, match=r"Slice \(y\): only a slice of the channel axis with step 1"):
        import_model(build_model(nodes, (1, 6, 3, 3), "y", constants))
