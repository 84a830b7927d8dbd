"""Networks with frozen layers and learning-rate multipliers, shared by the engines' and the export's tests."""

from __future__ import annotations

from core.graph.document import LayerTraining, NetworkDocument
from tests.core.helpers import network, pool


def set_training(document: NetworkDocument, name: str, training: LayerTraining) -> None:
    """Give the layer called ``name`` the training settings ``training``."""
    node = next(node for node in document.nodes if node.name == name)
    document.set_training(node.id, training)


def frozen_cnn() -> NetworkDocument:
    """1×8×8 → 10: a frozen Conv2D and BatchNorm, a Conv2D at a tenth of the rate, a Dense at the rate.

    The second convolution has no bias before its BatchNorm: a bias there has no gradient but
    float noise, which Adam would follow differently in each engine.
    """
    document, _ = network(
        (1, 8, 8),
        ("Conv2D", {"filters": 6, "kernel_size": 3, "padding": 1}, "conv1"),
        ("BatchNorm", None, "bn1"),
        ("ReLU", None, "relu1"),
        ("Conv2D", {"filters": 8, "kernel_size": 3, "padding": 1, "bias": False}, "conv2"),
        ("BatchNorm", None, "bn2"),
        ("ReLU", None, "relu2"),
        pool(name="pool"),
        ("Flatten", None, "flatten"),
        ("Dense", {"units": 10}, "fc"),
        ("Softmax", None, "probabilities"),
    )
    set_training(document, "conv1", LayerTraining(trainable=False))
    set_training(document, "bn1", LayerTraining(trainable=False))
    set_training(document, "conv2", LayerTraining(lr_multiplier=0.1))
    return document
