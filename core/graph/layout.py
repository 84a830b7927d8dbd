"""Layered top-to-bottom layout: inputs at the top, each layer below everything it reads."""

from __future__ import annotations

from core.graph.document import NetworkDocument
from core.graph.validation import check_graph

COLUMN_SPACING = 220.0
ROW_SPACING = 120.0


def layered_positions(document: NetworkDocument) -> dict[str, tuple[float, float]]:
    """Return a position per node id: rows by longest path from an input, no overlaps.

    Within a row, nodes are ordered by the mean column of the nodes feeding them (one
    top-down barycentre sweep), which keeps branches side by side and edges short.
    Nodes that cannot be ordered (on a cycle) go in one extra row at the bottom.
    """
    order = check_graph(document).order
    row_of: dict[str, int] = {}
    for node in order:
        sources = document.inputs_of(node.id)
        row_of[node.id] = 1 + max((row_of[s.id] for s in sources if s.id in row_of), default=-1)
    leftover = [n.id for n in document.nodes if n.id not in row_of]
    last_row = max(row_of.values(), default=-1) + 1
    for node_id in leftover:
        row_of[node_id] = last_row

    rows: dict[int, list[str]] = {}
    for node in document.nodes:
        rows.setdefault(row_of[node.id], []).append(node.id)
    column: dict[str, float] = {}
    positions: dict[str, tuple[float, float]] = {}
    for row in sorted(rows):
        members = rows[row]

        def barycentre(node_id: str) -> float:
            placed = [column[s.id] for s in document.inputs_of(node_id) if s.id in column]
            return sum(placed) / len(placed) if placed else 0.0

        members.sort(key=barycentre)  # stable: insertion order breaks ties
        for index, node_id in enumerate(members):
            column[node_id] = index - (len(members) - 1) / 2
            positions[node_id] = (column[node_id] * COLUMN_SPACING, row * ROW_SPACING)
    return positions


def apply_layered_layout(document: NetworkDocument) -> None:
    """Move every node to its :func:`layered_positions` place (one ``NodeMoved`` each)."""
    for node_id, position in layered_positions(document).items():
        document.move_node(node_id, position)
