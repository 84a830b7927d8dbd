"""The BatchNorm variant of a network, trained beside the original for comparison."""

from __future__ import annotations

import pytest

from core.examples import example_path
from core.graph.batchnorm_variant import with_batchnorm
from core.graph.document import NetworkDocument
from core.graph.fileformat import load_network, network_to_dict
from core.graph.validation import check_graph


@pytest.mark.parametrize("name", ["digits_cnn", "lenet5", "resnet_block", "inception_block", "cifar_cnn"])
def test_the_variant_computes_and_has_a_batchnorm_behind_each_activated_conv_or_dense(name):
    original = load_network(example_path(name))
    before = network_to_dict(original)
    variant = with_batchnorm(original)
    assert network_to_dict(original) == before  # untouched
    assert not check_graph(variant).problems
    original_shapes, variant_shapes = check_graph(original).shapes, check_graph(variant).shapes
    for node in original.nodes:
        twin = variant.node_by_name(node.name)
        assert twin is not None and variant_shapes[twin.id] == original_shapes[node.id]
        consumers = [original.node(e.target) for e in original.output_edges(node.id)]
        activated = any(c.type_name in ("ReLU", "LeakyReLU", "ELU", "Sigmoid", "Tanh") for c in consumers)
        normalised = any(c.type_name == "BatchNorm" for c in consumers)
        if node.type_name in ("Conv2D", "Dense") and activated and not normalised:
            after = [variant.node(e.target) for e in variant.output_edges(twin.id)]
            assert [n.type_name for n in after] == ["BatchNorm"] and after[0].name == f"{node.name}_bn"
            # The BatchNorm feeds exactly what the layer fed, on the same ports.
            moved = sorted((variant.node(e.target).name, e.port) for e in variant.output_edges(after[0].id))
            assert moved == sorted((original.node(e.target).name, e.port) for e in original.output_edges(node.id))


def test_counts_and_the_final_classifier_is_left_alone():
    original = load_network(example_path("digits_cnn"))
    variant = with_batchnorm(original)
    added = {n.name for n in variant.nodes} - {n.name for n in original.nodes}
    assert added == {"conv1_bn", "conv2_bn", "fc1_bn"}
    assert variant.name == "Digits CNN + BatchNorm"
    fc2 = variant.node_by_name("fc2")
    assert [variant.node(e.target).type_name for e in variant.output_edges(fc2.id)] == ["Softmax"]


def test_existing_batchnorm_and_taken_names_are_respected():
    doc = NetworkDocument("n")
    x = doc.add_node("Input", {"shape": [1, 8, 8]}, name="input")
    conv = doc.chain(
        x.id, [("Conv2D", {"filters": 4, "padding": 1}, "conv"), ("BatchNorm", None, "conv_bn"), ("ReLU", None, "relu")]
    )
    conv2 = doc.chain(conv.id, [("Conv2D", {"filters": 4, "padding": 1}, "conv2"), ("Tanh", None, "tanh")])
    assert conv2.name == "tanh"
    variant = with_batchnorm(doc)
    names = [n.name for n in variant.nodes]
    assert names.count("conv_bn") == 1 and "conv2_bn" in names
    assert len(variant.nodes) == len(doc.nodes) + 1
    assert not check_graph(variant).problems
