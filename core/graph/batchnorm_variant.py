"""The same network with BatchNorm after every convolution and dense layer, for comparison.

Training a network and this variant side by side shows what batch normalisation does
to the distributions of the activations (the "internal covariate shift" it was
introduced against) and to the speed of training.
"""

from __future__ import annotations

from core.graph.copying import copy_network
from core.graph.document import NetworkDocument, Node


def _needs_batchnorm(document: NetworkDocument, node: Node) -> bool:
    """A weighted layer feeding an activation function, not yet followed by a normalisation.

    Softmax is no activation function here: a classifier's final Dense → Softmax
    produces the class scores and is not normalised.
    """
    consumers = [document.node(edge.target).layer for edge in document.output_edges(node.id)]
    return (
        node.layer.computes_weighted_sums
        and any(c.is_activation_function for c in consumers)
        and not any(c.normalises_batches for c in consumers)
    )


def with_batchnorm(document: NetworkDocument) -> NetworkDocument:
    """Return a copy of ``document`` with a BatchNorm inserted after each Conv2D or Dense that feeds an activation.

    A layer already followed by a BatchNorm is left alone. The new layer is named
    ``<layer>_bn`` (made unique), takes the layer's place in front of every layer it
    fed (same input ports) and sits half-way to the first of them on the canvas. The
    biases of the normalised layers are kept, so the variant differs from the original
    by the BatchNorm layers alone; ``document`` is not changed.

    Parameters
    ----------
    document
        Any network; it need not compute.

    Returns
    -------
    NetworkDocument
        The copy, named ``"<name> + BatchNorm"``.
    """
    variant = copy_network(document, keep_ids=False)
    variant.name = f"{document.name} + BatchNorm"
    for node in [n for n in variant.nodes if _needs_batchnorm(variant, n)]:
        edges = variant.output_edges(node.id)
        first = variant.node(edges[0].target)
        position = ((node.position[0] + first.position[0]) / 2, (node.position[1] + first.position[1]) / 2)
        norm = variant.add_node("BatchNorm", name=variant.unique_name(f"{node.name}_bn"), position=position)
        for edge in edges:
            variant.disconnect(edge)
            variant.connect(norm.id, edge.target, edge.port)
        variant.connect(node.id, norm.id)
    return variant
