"""What the See-inside views can show of one layer, read from the layer's class and the graph."""

from __future__ import annotations

from dataclasses import dataclass

from core.errors import LayerwiseError
from core.graph.document import NetworkDocument
from core.graph.validation import check_graph
from core.layers.base import SpatialGeometry
from core.shapes import Shape


@dataclass(frozen=True)
class LayerFacts:
    """What a layer offers to look at.

    Attributes
    ----------
    node_id, name, type_name
        The layer.
    shape
        Its output shape without the batch axis, e.g. ``(C, H, W)`` or ``(F,)``.
    source_id
        The id of the one layer feeding it; ``None`` for none or several.
    source_port
        Which output of that layer feeds it (0 but after a layer with several outputs).
    views
        The views it offers besides its feature maps (:meth:`Layer.inside_views`).
    geometry
        Its window over the source's output; ``None`` without a single source of known shape.
    pools_by
        What each pooling window keeps, in words; empty for other layers.
    """

    node_id: str
    name: str
    type_name: str
    shape: Shape
    source_id: str | None
    views: tuple[str, ...]
    geometry: SpatialGeometry | None
    pools_by: str = ""
    source_port: int = 0

    @property
    def modes(self) -> list[str]:
        """``"maps"`` and the :attr:`views` that apply here, in order."""
        # Pooling compares the layer with its single input.
        return ["maps", *(view for view in self.views if view != "pooling" or self.source_id is not None)]


def layer_facts(document: NetworkDocument, node_id: str) -> LayerFacts:
    """Read a layer's type, output shape, See-inside views and window geometry from ``document``.

    Raises
    ------
    LayerwiseError
        When the layer's output shape is unknown (the network has problems up to it).
    """
    check = check_graph(document)
    node = document.node(node_id)
    shape = check.shapes.get(node_id)
    if shape is None:
        raise LayerwiseError(f"layer {node.name!r} has no known output shape; fix the network's problems first")
    edges = document.input_edges(node_id)
    source_id = edges[0].source if len(edges) == 1 else None
    source_shape = check.edge_shape(edges[0]) if len(edges) == 1 else None
    layer = node.layer
    geometry = layer.spatial_geometry([source_shape]) if source_shape is not None else None
    return LayerFacts(
        node_id,
        node.name,
        node.type_name,
        tuple(shape),
        source_id,
        layer.inside_views(),
        geometry,
        layer.pools_by,
        edges[0].source_port if len(edges) == 1 else 0,
    )
