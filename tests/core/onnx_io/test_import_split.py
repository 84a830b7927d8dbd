"""ONNX ``Split``: equal parts of the channels become one ChannelSplit, unequal ones ChannelSlices."""

from __future__ import annotations

import io
import re
import warnings

import numpy as np
import onnx
import pytest
from onnx import helper

from core.engine.model import Model
from core.onnx_io.importer import OnnxImportError, import_model
from tests.core.onnx_io.helpers import build_model
from tests.core.onnx_io.test_import import assert_same_as_onnxruntime, n


def split_model(sizes, opset=17, axis=1, input_shape=(1, 6, 4, 5), reads=None, outputs=None):
    """``x → Split → Concat`` of the parts ``reads`` (all of them, last first, by default).

    ``sizes`` are written as an input (opset ≥ 13) or an attribute (before), or left out (``None``).
    """
    count = outputs or len(sizes)
    names = [f"part{i}" for i in range(count)]
    inputs, attributes, constants = ["x"], {"axis": axis}, {}
    if sizes is not None and opset < 13:
        attributes["split"] = list(sizes)
    elif sizes is not None:
        inputs.append("sizes")
        constants["sizes"] = np.array(sizes, dtype=np.int64)
    if sizes is None and opset >= 18:
        attributes["num_outputs"] = count
    reads = list(range(count))[::-1] if reads is None else reads
    nodes = [
        helper.make_node("Split", inputs, names, name="split", **attributes),
        n("Concat", [names[i] for i in reads], ["y"], axis=1),
    ]
    return build_model(nodes, input_shape, "y", constants, opset=opset)


def layers(model):
    return [
        (node.name, node.type_name, dict(node.layer.params))
        for node in model.document.nodes
        if not node.layer.is_network_input
    ]


def edges_into(model, name):
    document = model.document
    return [(document.node(e.source).name, e.source_port) for e in document.input_edges(document.node_by_name(name).id)]


@pytest.mark.parametrize("opset", [9, 11, 13, 17, 18])
def test_equal_parts_are_one_channel_split_with_an_output_each(opset):
    model = assert_same_as_onnxruntime(split_model([2, 2, 2], opset))
    assert layers(model) == [("split", "ChannelSplit", {"parts": 3}), ("y", "Concat", {})]
    assert edges_into(model, "y") == [("split", 2), ("split", 1), ("split", 0)]


@pytest.mark.parametrize("opset", [11, 13, 18])
def test_a_split_without_sizes_is_into_equal_parts(opset):
    model = assert_same_as_onnxruntime(split_model(None, opset, outputs=2, input_shape=(1, 8)))
    assert layers(model)[0] == ("split", "ChannelSplit", {"parts": 2})


def test_an_unread_part_is_still_an_output_of_the_split():
    model = assert_same_as_onnxruntime(split_model([3, 3], reads=[1, 1]))
    assert layers(model) == [("split", "ChannelSplit", {"parts": 2}), ("y", "Concat", {})]
    assert edges_into(model, "y") == [("split", 1), ("split", 1)]


@pytest.mark.parametrize("opset", [11, 17])
def test_unequal_parts_are_one_channel_slice_each(opset):
    model = assert_same_as_onnxruntime(split_model([1, 3, 2], opset))
    assert layers(model) == [
        ("split_1", "ChannelSlice", {"start": 0, "stop": 1}),
        ("split_2", "ChannelSlice", {"start": 1, "stop": 4}),
        ("split_3", "ChannelSlice", {"start": 4, "stop": 6}),
        ("y", "Concat", {}),
    ]
    assert edges_into(model, "y") == [("split_3", 0), ("split_2", 0), ("split_1", 0)]


@pytest.mark.parametrize(
    ("axis", "input_shape", "where"),
    [(2, (1, 6, 4, 4), "axis 2 (height)"), (-1, (1, 6, 4, 4), "axis 3 (width)"), (0, (1, 6), "axis 0 (batch)")],
)
def test_a_split_along_another_axis_is_refused_saying_so(axis, input_shape, where):
    with pytest.raises(OnnxImportError, match=rf"Split \(split\): splitting along {re.escape(where)} has no layer"):
        import_model(split_model([2, 2], axis=axis, input_shape=input_shape))


def test_sizes_that_do_not_cover_the_channels_are_refused():
    with pytest.raises(OnnxImportError, match=r"split sizes \[2, 2\] do not divide the 6 channels"):
        import_model(split_model([2, 2]))


def test_a_model_that_ends_in_one_part_of_a_split_is_refused():
    nodes = [helper.make_node("Split", ["x"], ["a", "b"], name="split", axis=1)]
    with pytest.raises(OnnxImportError, match=r"is output 2 of layer 'split', which has 2; .* end in a layer with one"):
        import_model(build_model(nodes, (1, 4, 3, 3), "b", opset=11))


def test_glu_is_a_split_a_sigmoid_and_a_multiply():
    # torch.nn.GLU: the first half of the features gated by the sigmoid of the second.
    nodes = [
        helper.make_node("Split", ["x"], ["a", "b"], name="split", axis=1),
        n("Sigmoid", ["b"], ["gate"]),
        n("Mul", ["a", "gate"], ["y"]),
    ]
    model = assert_same_as_onnxruntime(build_model(nodes, (1, 10), "y", opset=11))
    assert [t for _, t, _ in layers(model)] == ["ChannelSplit", "Sigmoid", "Multiply"]
    assert edges_into(model, "gate") == [("split", 1)]


@pytest.mark.parametrize(
    ("build", "shape", "types"),
    [
        ("glu", (10,), ["ChannelSplit", "Sigmoid", "Multiply"]),
        ("equal", (6, 4, 4), ["ChannelSplit", "ReLU", "Concat"]),
        ("unequal", (6, 4, 4), ["ChannelSlice", "ChannelSlice", "ReLU", "Concat"]),
    ],
)
@pytest.mark.parametrize("opset", [11, 17])
def test_what_torch_writes_for_split_and_glu_imports_and_computes_the_same(build, shape, types, opset):
    torch = pytest.importorskip("torch")

    class Split(torch.nn.Module):
        def __init__(self, sizes):
            super().__init__()
            self.sizes = sizes

        def forward(self, x):
            first, second = torch.split(x, self.sizes, dim=1)
            return torch.cat([torch.relu(second), first], dim=1)

    module = {"glu": torch.nn.GLU(), "equal": Split(3), "unequal": Split([2, 4])}[build]
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter announces its deprecation
        torch.onnx.export(module, torch.zeros(1, *shape), buffer, opset_version=opset, dynamo=False)
    imported = import_model(onnx.load_from_string(buffer.getvalue()))
    assert [n.type_name for n in imported.document.nodes if not n.layer.is_network_input] == types
    model = Model(imported.document, dtype=np.float64)
    model.load_state_dict(imported.weights)
    x = np.random.default_rng(0).standard_normal((2, *shape))
    np.testing.assert_allclose(model.forward(x), module(torch.tensor(x)).numpy(), rtol=1e-12)
