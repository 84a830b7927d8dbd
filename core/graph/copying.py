"""Independent copies of a network document."""

from __future__ import annotations

from core.graph.document import NetworkDocument


def copy_network(document: NetworkDocument, *, keep_ids: bool) -> NetworkDocument:
    """Return an independent copy of ``document``: editing either leaves the other as it was.

    The copy has the same name, description, layers (names, types, parameters,
    positions, training settings, in the same order) and edges (with their input and output ports, in the same order).
    Listeners and memoised analyses are not copied.

    Parameters
    ----------
    document
        Any network; it need not compute.
    keep_ids
        Keep every layer's id, so that ids taken from ``document`` (a selection, a
        cache key) name the same layers in the copy. Otherwise the copy numbers its
        layers afresh, as a document read from a file does.
    """
    copy = NetworkDocument(document.name, document.description)
    ids: dict[str, str] = {}
    for node in document.nodes:
        twin = copy.add_node(
            node.type_name,
            node.layer.get_config(),
            name=node.name,
            position=node.position,
            node_id=node.id if keep_ids else None,
            training=node.training,
        )
        ids[node.id] = twin.id
    for edge in document.edges:
        copy.connect(
            ids[edge.source], ids[edge.target], edge.port, source_port=edge.source_port, missing_output_ok=True
        )
    return copy
