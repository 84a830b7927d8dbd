"""Every registered layer type survives an ONNX export and import: the same network, the same outputs.

Each type has several configurations, each in a small network with random weights. The
network is exported at the default opset and at old ones, imported again, and compared
with what each layer says it reads back as (``Layer.onnx_round_trip``: resolved padding,
no Dropout …); the imported network computes what the original does, in float64, and so
does onnxruntime on the file in between.
"""

from __future__ import annotations

import numpy as np
import pytest

from core.engine.model import Model
from core.graph.document import NetworkDocument
from core.layers import layer_types
from core.onnx_io.export import DEFAULT_OPSET, export_model
from core.onnx_io.importer import import_model
from tests.core.onnx_io.helpers import randomize, relative_difference, run_onnx

OPSETS = (DEFAULT_OPSET, 11, 9)
"""The default; the last before Softmax picks one axis (13); the last with pads as attributes (Pad, 11)."""
IMAGE = (3, 8, 7)
SQUARE = (3, 8, 8)
"""Even sizes, where a 3×3 window of stride 2 in ceil mode overhangs the end."""


def chain(input_shape: tuple[int, ...], *layers: tuple[str, dict]) -> NetworkDocument:
    """``Input → layers…``; each layer is ``(type name, parameters)``."""
    document = NetworkDocument("round trip")
    entry = document.add_node("Input", {"shape": list(input_shape)}, name="input")
    document.chain(entry.id, [(type_name, params, None) for type_name, params in layers])
    return document


def merged(input_shape: tuple[int, ...], merge: str, *branches: list[tuple[str, dict]]) -> NetworkDocument:
    """``Input`` → each branch (a list of layers; empty: the input itself) → one ``merge`` layer."""
    document = NetworkDocument("round trip")
    entry = document.add_node("Input", {"shape": list(input_shape)}, name="input")
    ends = [
        document.chain(entry.id, [(t, p, None) for t, p in branch]).id if branch else entry.id for branch in branches
    ]
    document.merge(merge, ends)
    return document


def split(input_shape: tuple[int, ...], parts: int, reads: list[int], merge: str = "Concat") -> NetworkDocument:
    """``Input → ChannelSplit(parts)`` → one ``merge`` layer reading its outputs ``reads``, in that order.

    An output read through a ReLU where ``reads`` holds it negated (``-1`` is output 1 through ReLU).
    """
    document = NetworkDocument("round trip")
    entry = document.add_node("Input", {"shape": list(input_shape)}, name="input")
    under_test = document.chain(entry.id, [("ChannelSplit", {"parts": parts}, None)])
    join = document.add_node(merge)
    for read in reads:
        if read < 0:
            relu = document.add_node("ReLU")
            document.connect(under_test.id, relu.id, source_port=-read)
            document.connect(relu.id, join.id)
        else:
            document.connect(under_test.id, join.id, source_port=read)
    return document


def conv(**params) -> tuple[str, dict]:
    return ("Conv2D", {"filters": 4, "kernel_size": 3, **params})


def pool(type_name: str, **params) -> tuple[str, dict]:
    return (type_name, {"pool_size": 3, "stride": 2, **params})


def on_image_and_features(type_name: str, **params) -> dict[str, NetworkDocument]:
    return {
        "image": chain(IMAGE, (type_name, params)),
        "features": chain((5,), ("Dense", {"units": 4}), (type_name, params)),
    }


CONFIGURATIONS: dict[str, dict[str, NetworkDocument]] = {
    "Input": {"image": chain(IMAGE, ("ReLU", {})), "features": chain((5,), ("Tanh", {}))},
    "Conv2D": {
        "plain": chain(IMAGE, conv()),
        "stride 2, same": chain(IMAGE, conv(stride=2, padding="same")),
        "same, 1 pixel": chain(IMAGE, conv(padding="same")),
        "asymmetric": chain(IMAGE, conv(kernel_size=[3, 2], stride=[2, 1], padding=[1, 0, 2, 1])),
        "dilated": chain(IMAGE, conv(dilation=2, padding=2)),
        "grouped, no bias": chain((6, 8, 7), conv(filters=6, groups=3, bias=False)),
        "depthwise": chain((4, 6, 6), conv(filters=4, groups=4, padding=1)),
        "1×1": chain(IMAGE, conv(kernel_size=1)),
    },
    "DepthwiseConv2D": {
        "same": chain(IMAGE, ("DepthwiseConv2D", {"padding": "same"})),
        "multiplier, strided, no bias": chain(
            IMAGE,
            (
                "DepthwiseConv2D",
                {"kernel_size": [3, 2], "stride": 2, "padding": [1, 0, 1, 1], "depth_multiplier": 2, "bias": False},
            ),
        ),
        "dilated": chain((4, 9, 9), ("DepthwiseConv2D", {"dilation": 2, "padding": 2})),
        "one channel": chain((1, 6, 6), ("DepthwiseConv2D", {"depth_multiplier": 3})),
    },
    "Conv2DTranspose": {
        "2×2, stride 2": chain(IMAGE, ("Conv2DTranspose", {"filters": 4})),
        "padded, output padding": chain(
            IMAGE, ("Conv2DTranspose", {"filters": 4, "kernel_size": 3, "padding": 1, "output_padding": 1})
        ),
        "same": chain(IMAGE, ("Conv2DTranspose", {"filters": 2, "kernel_size": 4, "padding": "same"})),
        "grouped, dilated, no bias": chain(
            (4, 5, 5),
            (
                "Conv2DTranspose",
                {"filters": 6, "kernel_size": 3, "stride": [2, 1], "dilation": 2, "groups": 2, "bias": False},
            ),
        ),
    },
    "MaxPool2D": {
        "2×2": chain(IMAGE, ("MaxPool2D", {})),
        "padded": chain(IMAGE, pool("MaxPool2D", padding=1)),
        "same": chain(IMAGE, pool("MaxPool2D", padding="same")),
        "ceil mode": chain(SQUARE, pool("MaxPool2D", ceil_mode=True)),
        "ceil mode, padded": chain(SQUARE, pool("MaxPool2D", padding=1, ceil_mode=True)),
    },
    "AvgPool2D": {
        "2×2": chain(IMAGE, ("AvgPool2D", {})),
        "padded": chain(IMAGE, pool("AvgPool2D", padding=1)),
        "padded, counted": chain(IMAGE, pool("AvgPool2D", padding=1, count_include_pad=True)),
        "same": chain(IMAGE, pool("AvgPool2D", padding="same")),
        "ceil mode": chain(SQUARE, pool("AvgPool2D", ceil_mode=True)),
        "ceil mode, counted": chain(SQUARE, pool("AvgPool2D", ceil_mode=True, count_include_pad=True)),
        "ceil mode, padded, counted": chain(
            SQUARE, pool("AvgPool2D", padding=1, ceil_mode=True, count_include_pad=True)
        ),
    },
    "GlobalAvgPool2D": {
        "keepdims": chain(IMAGE, ("GlobalAvgPool2D", {"keepdims": True}), ("Conv2D", {"filters": 2, "kernel_size": 1})),
        "features": chain(IMAGE, ("GlobalAvgPool2D", {}), ("Dense", {"units": 3})),
        "last": chain(IMAGE, ("GlobalAvgPool2D", {})),
    },
    "GlobalMaxPool2D": {
        "keepdims": chain(IMAGE, ("GlobalMaxPool2D", {"keepdims": True}), ("Conv2D", {"filters": 2, "kernel_size": 1})),
        "features": chain(IMAGE, ("GlobalMaxPool2D", {}), ("Dense", {"units": 3})),
        "last": chain(IMAGE, ("GlobalMaxPool2D", {})),
    },
    "Upsample2D": {
        "nearest ×2": chain(IMAGE, ("Upsample2D", {})),
        "nearest 3×2": chain(IMAGE, conv(padding=1), ("Upsample2D", {"scale": [3, 2]})),
        "nearest to whole multiples": chain(IMAGE, ("Upsample2D", {"size": [16, 21]})),
    },
    "PixelShuffle": {
        "×2": chain((8, 4, 3), ("PixelShuffle", {})),
        "×3 after a convolution": chain(IMAGE, conv(filters=9, padding=1), ("PixelShuffle", {"upscale_factor": 3})),
    },
    "Pad2D": {
        "zeros": chain(IMAGE, ("Pad2D", {"pads": [1, 2, 0, 3]}), conv()),
        "constant": chain(IMAGE, ("Pad2D", {"pads": 2, "value": -0.5})),
        "reflect": chain(IMAGE, ("Pad2D", {"pads": [2, 1, 3, 2], "mode": "reflect"})),
        "replicate": chain(IMAGE, ("Pad2D", {"pads": [3, 0, 1, 4], "mode": "replicate"})),
    },
    "BatchNorm": {
        "after a convolution": chain(IMAGE, conv(bias=False), ("BatchNorm", {"epsilon": 1e-3, "momentum": 0.8})),
        "features": chain((6,), ("BatchNorm", {})),
    },
    "LayerNorm": {
        "over channels": chain(IMAGE, conv(bias=False), ("LayerNorm", {})),
        "over C×H×W": chain(IMAGE, ("LayerNorm", {"over": "all", "epsilon": 1e-3})),
        "features": chain((6,), ("LayerNorm", {})),
        "features, over all": chain((5,), ("Dense", {"units": 4}), ("LayerNorm", {"over": "all"})),
    },
    "GroupNorm": {
        "2 groups": chain((6, 5, 5), ("GroupNorm", {"groups": 2, "epsilon": 1e-3})),
        "instance": chain(IMAGE, conv(), ("GroupNorm", {"groups": 4})),
        "one group": chain(IMAGE, ("GroupNorm", {"groups": 1})),
        "features": chain((6,), ("GroupNorm", {"groups": 3})),
    },
    "LRN": {
        "size 3": chain((6, 5, 5), ("LRN", {"size": 3, "alpha": 0.3, "beta": 0.6, "bias": 1.5})),
        "size 5": chain((6, 5, 5), ("LRN", {})),
        "size 1": chain((2, 4, 4), ("LRN", {"size": 1, "alpha": 0.5})),
    },
    "Scale": {
        **on_image_and_features("Scale"),
        "after a convolution without bias": chain(IMAGE, conv(bias=False), ("Scale", {})),
    },
    "ReLU": on_image_and_features("ReLU"),
    "LeakyReLU": {**on_image_and_features("LeakyReLU", alpha=0.2), "default": chain((5,), ("LeakyReLU", {}))},
    "Sigmoid": on_image_and_features("Sigmoid"),
    "Tanh": on_image_and_features("Tanh"),
    "ELU": {**on_image_and_features("ELU", alpha=0.5), "default": chain((5,), ("ELU", {}))},
    "ReLU6": on_image_and_features("ReLU6"),
    "SELU": {**on_image_and_features("SELU"), "α 1.5, γ 0.9": chain((5,), ("SELU", {"alpha": 1.5, "gamma": 0.9}))},
    "HardTanh": {
        **on_image_and_features("HardTanh"),
        "[−0.1, 0.3]": chain((5,), ("HardTanh", {"min_val": -0.1, "max_val": 0.3})),
        "[0, 6], read back as ReLU6": chain(IMAGE, conv(), ("HardTanh", {"min_val": 0, "max_val": 6})),
    },
    "PReLU": on_image_and_features("PReLU"),
    "HardSigmoid": {
        **on_image_and_features("HardSigmoid", alpha=0.2, beta=0.4),
        "default": chain((5,), ("HardSigmoid", {})),
    },
    "HardSwish": on_image_and_features("HardSwish"),
    "SiLU": on_image_and_features("SiLU"),
    "GELU": {
        **on_image_and_features("GELU"),
        "tanh, after a convolution": chain(IMAGE, conv(), ("GELU", {"approximate": "tanh"})),
    },
    "Softplus": on_image_and_features("Softplus"),
    "LogSoftmax": {
        "features": chain((5,), ("Dense", {"units": 4}), ("LogSoftmax", {})),
        "image": chain(IMAGE, conv(), ("LogSoftmax", {})),
    },
    "Softmax": {
        "features": chain((5,), ("Dense", {"units": 4}), ("Softmax", {})),
        "image": chain(IMAGE, conv(), ("Softmax", {})),
    },
    "Dropout": {
        "features": chain((5,), ("Dropout", {"rate": 0.3}), ("Dense", {"units": 2})),
        "last": chain(IMAGE, conv(), ("Dropout", {})),
        "twice": chain(IMAGE, ("Dropout", {}), ("Dropout", {"rate": 0.1}), ("ReLU", {})),
    },
    "Add": {
        "residual": merged(IMAGE, "Add", [conv(filters=3, padding=1)], []),
        "three branches": merged(IMAGE, "Add", [("ReLU", {})], [("Sigmoid", {})], [("Tanh", {})]),
    },
    "Concat": {
        "image": merged(IMAGE, "Concat", [conv(padding=1)], [pool("MaxPool2D", stride=1, padding=1)]),
        "features": merged((5,), "Concat", [("Dense", {"units": 3})], [("Dense", {"units": 2, "bias": False})]),
    },
    "Multiply": {
        "equal shapes": merged(IMAGE, "Multiply", [("Sigmoid", {})], [("Tanh", {})]),
        "channel gate": merged(
            IMAGE,
            "Multiply",
            [],
            [("GlobalAvgPool2D", {"keepdims": True}), ("Conv2D", {"filters": 3, "kernel_size": 1}), ("Sigmoid", {})],
        ),
        "feature gate": merged(
            IMAGE, "Multiply", [], [("GlobalAvgPool2D", {}), ("Dense", {"units": 3}), ("Sigmoid", {})]
        ),
        "features": merged((5,), "Multiply", [("Dense", {"units": 3})], [("Dense", {"units": 3, "bias": False})]),
    },
    "ChannelShuffle": {
        "2 groups": chain((6, 4, 4), ("ChannelShuffle", {})),
        "3 groups": chain((6, 4, 4), ("ChannelShuffle", {"groups": 3})),
    },
    "ChannelSlice": {
        "first half": chain((6, 4, 4), ("ChannelSlice", {"start": 0, "stop": 3})),
        "middle": chain((6, 4, 4), ("ChannelSlice", {"start": 2, "stop": 5})),
        "features": chain((5,), ("ChannelSlice", {"start": 1, "stop": 5})),
    },
    "ChannelSplit": {
        "halves, swapped": split((6, 4, 4), 2, [1, 0]),
        "thirds, one through ReLU, one unread": split((6, 4, 4), 3, [0, -2], merge="Add"),
        "features": split((6,), 3, [2, 1, 0, 2]),
    },
    "Flatten": {
        "image": chain(IMAGE, ("Flatten", {}), ("Dense", {"units": 3})),
        "features": chain((5,), ("Flatten", {})),
    },
    "Dense": {
        "bias": chain((6,), ("Dense", {"units": 4})),
        "no bias": chain((6,), ("Dense", {"units": 4, "bias": False})),
        "after Flatten": chain(IMAGE, ("Flatten", {}), ("Dense", {"units": 3}), ("Dense", {"units": 2, "bias": False})),
    },
}


def layers_read_back(model: Model, opset: int) -> dict[str, tuple]:
    """Each layer as an export at ``opset`` and an import should give it: name → type, config, inputs.

    Inputs are ``(layer name, output port)``.
    """
    through: dict[str, tuple[str, int]] = {}  # a layer read back as nothing → the output feeding it
    layers = {}
    names = {node.id: node.name for node in model.order}
    for node in model.order:
        sources = [through.get(names[source], (names[source], port)) for source, port in model.inputs_of(node.id)]
        layer = node.layer.onnx_round_trip(model.input_shapes(node.id), opset)
        if layer is None:
            through[node.name] = sources[0]
        else:
            layers[node.name] = (layer.type_name, layer.get_config(), sources)
    return layers


def layers_of(document: NetworkDocument) -> dict[str, tuple]:
    """Each layer of ``document``: name → type, config, inputs (``(layer name, output port)``)."""
    return {
        node.name: (
            node.type_name,
            node.layer.get_config(),
            [(document.node(edge.source).name, edge.source_port) for edge in document.input_edges(node.id)],
        )
        for node in document.nodes
    }


def forward64(document: NetworkDocument, weights: dict[str, np.ndarray], x: np.ndarray) -> np.ndarray:
    model = Model(document, dtype=np.float64)
    model.load_state_dict(weights)
    return model.forward(x)


def test_every_layer_type_has_configurations():
    missing = [cls.type_name for cls in layer_types() if not CONFIGURATIONS.get(cls.type_name)]
    assert missing == [], f"add round-trip configurations for {missing}"


def cases() -> list:
    return [
        pytest.param(type_name, label, opset, id=f"{type_name}-{label}-opset{opset}")
        for type_name, configurations in CONFIGURATIONS.items()
        for label in configurations
        for opset in OPSETS
    ]


@pytest.mark.parametrize(("type_name", "label", "opset"), cases())
def test_export_then_import_gives_the_same_network(type_name, label, opset):
    document = CONFIGURATIONS[type_name][label]
    assert type_name in {node.type_name for node in document.nodes}
    original = Model(document, seed=1)
    randomize(original, seed=2)
    exported = export_model(original, opset)
    imported = import_model(exported)
    assert layers_of(imported.document) == layers_read_back(original, opset)
    x = np.random.default_rng(3).standard_normal((2, *original.input_shape))
    expected = forward64(document, original.state_dict(), x)
    np.testing.assert_allclose(forward64(imported.document, imported.weights, x), expected, rtol=1e-9, atol=1e-12)
    # The file in between computes the same too.
    assert relative_difference(run_onnx(exported, x.astype(np.float32)), expected) <= 1e-4
