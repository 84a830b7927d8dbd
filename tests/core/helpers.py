"""Small builders for test networks."""

from __future__ import annotations

from core.graph.document import NetworkDocument, Node


def conv(filters: int = 1, kernel=3, stride=1, padding="valid", dilation=1, name=None):
    return (
        "Conv2D",
        {"filters": filters, "kernel_size": kernel, "stride": stride, "padding": padding, "dilation": dilation},
        name,
    )


def pool(size=2, stride=2, padding=0, name=None):
    return ("MaxPool2D", {"pool_size": size, "stride": stride, "padding": padding}, name)


def network(input_shape, *layers) -> tuple[NetworkDocument, Node]:
    """A chain ``Input → layers…``; returns the document and the last node."""
    doc = NetworkDocument("test")
    first = doc.add_node("Input", {"shape": list(input_shape)}, name="input")
    return doc, doc.chain(first.id, layers)
