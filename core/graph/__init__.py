"""The network document, its validation and its file format."""

from core.graph.document import NetworkDocument, Node
from core.graph.events import Edge

__all__ = ["Edge", "NetworkDocument", "Node"]
