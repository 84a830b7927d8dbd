"""A network's classifier: the layer whose outputs are the class scores, and how to resize it.

Walking back from the network's single output through layers that keep the number of
class scores (Softmax, Flatten of C×1×1, global pooling, Dropout, activations) leads to
the classifier: a Dense layer whose units, or a convolution (the 1×1-convolution and
global-pooling head of SqueezeNet) whose filters, are the class count. Replacing it for
another dataset sets that parameter; the layer's old weights no longer fit and it starts
from fresh ones, while every layer before it keeps its own.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.graph.document import NetworkDocument, Node
from core.graph.validation import check_graph


@dataclass(frozen=True)
class Classifier:
    """The classifier layer of a network.

    Attributes
    ----------
    node_id, name
        The layer.
    param
        Its parameter that sets the class count (``"units"``, ``"filters"``).
    classes
        How many class scores the network outputs now.
    """

    node_id: str
    name: str
    param: str
    classes: int


def _keeps_class_scores(node: Node) -> bool:
    layer = node.layer
    return layer.keeps_class_scores or layer.acts_pointwise or layer.is_activation_function


def find_classifier(document: NetworkDocument) -> Classifier | None:
    """The layer that sets the number of class scores, or ``None`` when the network has no such head.

    ``None`` also when the network does not compute, has other than one output, or
    ends in something other than a vector of scores.
    """
    sinks = [node for node in document.nodes if not document.output_edges(node.id)]
    if len(sinks) != 1:
        return None
    shapes = check_graph(document).shapes
    node = sinks[0]
    output = shapes.get(node.id)
    if output is None or len(output) != 1:
        return None
    classes = int(output[0])
    while True:
        shape = shapes.get(node.id)
        if shape is None or int(shape[0]) != classes:
            return None
        param = node.layer.class_scores_param
        if param and int(node.layer.params[param]) == classes:
            return Classifier(node.id, node.name, param, classes)
        inputs = document.inputs_of(node.id)
        if not _keeps_class_scores(node) or len(inputs) != 1:
            return None
        node = inputs[0]
