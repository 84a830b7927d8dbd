"""Finding a network's classifier: the layer whose parameter sets the number of class scores."""

from __future__ import annotations

import pytest

from core.examples import example_path
from core.graph.classifier import find_classifier
from core.graph.document import NetworkDocument
from core.graph.fileformat import load_network


@pytest.mark.parametrize(
    ("example", "name", "classes"),
    [("lenet5", "fc3", 10), ("digits_cnn", "fc2", 10), ("mlp", "fc3", 10), ("vgg16", "fc8", 1000)],
)
def test_the_last_dense_behind_softmax_and_dropout_is_the_classifier(example, name, classes):
    head = find_classifier(load_network(example_path(example)))
    assert head is not None and (head.name, head.param, head.classes) == (name, "units", classes)


def conv_head(keepdims: bool) -> NetworkDocument:
    doc = NetworkDocument("conv head")
    x = doc.add_node("Input", {"shape": [3, 16, 16]}, name="input")
    layers = [
        ("Conv2D", {"filters": 8, "kernel_size": 3}, "features"),
        ("ReLU", None, "relu"),
        ("Conv2D", {"filters": 7, "kernel_size": 1}, "classifier"),
        ("GlobalAvgPool2D", {"keepdims": keepdims}, "pool"),
    ]
    if keepdims:
        layers.append(("Flatten", None, "flat"))
    doc.chain(x.id, [*layers, ("Softmax", None, "probabilities")])
    return doc


@pytest.mark.parametrize("keepdims", [False, True])
def test_a_one_by_one_convolution_before_global_pooling_is_the_classifier(keepdims):
    head = find_classifier(conv_head(keepdims))
    assert head is not None and (head.name, head.param, head.classes) == ("classifier", "filters", 7)


def test_no_classifier_where_the_count_is_made_elsewhere():
    doc = NetworkDocument("flattened map")
    x = doc.add_node("Input", {"shape": [1, 8, 8]}, name="input")
    doc.chain(x.id, [("Conv2D", {"filters": 4, "kernel_size": 3}, "conv"), ("Flatten", None, "flat")])
    assert find_classifier(doc) is None  # 4×6×6 scores come from Flatten, not from a parameter
    assert find_classifier(load_network(example_path("resnet_block"))) is None  # a block: no vector output
    doc = NetworkDocument("two outputs")
    x = doc.add_node("Input", {"shape": [4]}, name="input")
    doc.chain(x.id, [("Dense", {"units": 3}, "a")])
    doc.chain(x.id, [("Dense", {"units": 3}, "b")])
    assert find_classifier(doc) is None
