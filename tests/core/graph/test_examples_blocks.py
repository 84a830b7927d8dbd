"""The modern example blocks (MobileNet, EfficientNet, ConvNeXt, ShuffleNet, U-Net, …)."""

from __future__ import annotations

import pytest

from core.examples import example_path
from core.graph.fileformat import load_network
from core.graph.validation import check_graph

NEW_EXAMPLES = {
    # name: (input shape, output layer, output shape)
    "depthwise_separable": ((32, 16, 16), "pointwise_relu", (64, 16, 16)),
    "inverted_residual": ((24, 16, 16), "add", (24, 16, 16)),
    "se_block": ((32, 16, 16), "se_scale", (32, 16, 16)),
    "mbconv": ((24, 16, 16), "add", (24, 16, 16)),
    "convnext_block": ((32, 16, 16), "add", (32, 16, 16)),
    "shufflenet_unit": ((116, 8, 8), "shuffle", (116, 8, 8)),
    "shufflenet_unit_down": ((24, 16, 16), "shuffle", (116, 8, 8)),
    "unet_small": ((1, 32, 32), "classes", (2, 32, 32)),
    "conv_autoencoder": ((1, 28, 28), "reconstruction", (1, 28, 28)),
    "mobilenet_cifar": ((3, 32, 32), "probabilities", (10,)),
}


def _params(name: str) -> tuple[int, int]:
    doc = load_network(example_path(name))
    check = check_graph(doc)
    counts = [node.layer.param_count(check.input_shapes(doc, node.id)) for node in check.order]
    return sum(c.trainable for c in counts), sum(c.non_trainable for c in counts)


@pytest.mark.parametrize("name", NEW_EXAMPLES)
def test_example_loads_validates_and_every_layer_computes(name):
    doc = load_network(example_path(name))
    check = check_graph(doc)
    assert check.ok, check.problems
    assert len(check.order) == len(doc)
    assert all(check.shapes[node.id] is not None for node in doc.nodes)
    entry, last, shape = NEW_EXAMPLES[name]
    assert check.shapes[doc.node_by_name("input").id] == entry
    assert check.shapes[doc.node_by_name(last).id] == shape
    assert doc.description


def test_inverted_residual_parameters_by_hand():
    # expand 24→144 (1×1, no bias) + depthwise 144×3×3 + project 144→24, three BatchNorms
    convs = 24 * 144 + 144 * 9 + 144 * 24
    bn_trainable, bn_running = 2 * (144 + 144 + 24), 2 * (144 + 144 + 24)
    assert _params("inverted_residual") == (convs + bn_trainable, bn_running) == (8832, 624)


def test_se_block_parameters_by_hand():
    # 1×1 conv 32→8 with bias, 1×1 conv 8→32 with bias
    assert _params("se_block") == (32 * 8 + 8 + 8 * 32 + 32, 0) == (552, 0)


def test_conv_autoencoder_parameters_by_hand():
    enc = (1 * 16 * 9 + 16) + (16 * 32 * 9 + 32)
    dec = (32 * 16 * 4 + 16) + (16 * 1 * 4 + 1)
    assert _params("conv_autoencoder") == (enc + dec, 0) == (6929, 0)


def test_mobilenet_cifar_is_small():
    trainable, _ = _params("mobilenet_cifar")
    assert trainable < 100_000


def test_shufflenet_unit_splits_its_channels_with_one_layer():
    doc = load_network(example_path("shufflenet_unit"))
    split = doc.node_by_name("split")
    assert split.type_name == "ChannelSplit" and split.layer.output_count == 2
    readers = {doc.node(edge.target).name: edge.source_port for edge in doc.output_edges(split.id)}
    assert readers == {"concat": 0, "b_pointwise1": 1}
    # The untouched half, then the branch: 58 + 58 channels, shuffled.
    assert _params("shufflenet_unit")[0] == 58 * 58 + 58 * 9 + 58 * 58 + 2 * 3 * 58
