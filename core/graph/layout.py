"""Layered top-to-bottom layout: inputs at the top, each layer below everything it reads.

A simplified Sugiyama layout: rows by longest path from an input; an edge that spans
several rows gets a placeholder in every row it crosses, so it keeps a column of its
own and never runs through a node; rows are ordered by barycentres, one sweep down
and one up, to keep branches side by side and edges short. The layers fed by the outputs of
a layer with several (a channel split) are ordered as those outputs are, left to right.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from core.graph.document import NetworkDocument
from core.graph.validation import check_graph

COLUMN_SPACING = 240.0
ROW_SPACING = 120.0


@dataclass
class _Slot:
    """A node, or a placeholder for a long edge, in one row.

    ``shifts`` (one per entry of ``above``) move where a neighbour above counts in the
    barycentre: by a fraction of a column per output port, so that the readers of a split
    keep the order of its outputs.
    """

    key: str
    above: list[str] = field(default_factory=list)
    below: list[str] = field(default_factory=list)
    shifts: list[float] = field(default_factory=list)


def _rows(document: NetworkDocument) -> dict[str, int]:
    order = check_graph(document).order
    row_of: dict[str, int] = {}
    for node in order:
        sources = document.inputs_of(node.id)
        row_of[node.id] = 1 + max((row_of[s.id] for s in sources if s.id in row_of), default=-1)
    last = max(row_of.values(), default=-1) + 1
    for node in document.nodes:  # nodes on a cycle: one extra row at the bottom
        row_of.setdefault(node.id, last)
    return row_of


def _slots(document: NetworkDocument, row_of: dict[str, int]) -> tuple[dict[str, _Slot], dict[int, list[str]]]:
    slots = {node.id: _Slot(node.id) for node in document.nodes}
    rows: dict[int, list[str]] = {}
    for node in document.nodes:
        rows.setdefault(row_of[node.id], []).append(node.id)
    for index, edge in enumerate(document.edges):
        previous = edge.source
        outputs = document.node(edge.source).layer.output_count
        shift = 0.1 * (edge.source_port - (outputs - 1) / 2) / outputs
        for row in range(row_of[edge.source] + 1, row_of[edge.target]):
            key = f"edge{index}:{row}"
            slots[key] = _Slot(key)
            rows.setdefault(row, []).append(key)
            slots[previous].below.append(key)
            slots[key].above.append(previous)
            slots[key].shifts.append(shift)
            previous, shift = key, 0.0
        slots[previous].below.append(edge.target)
        slots[edge.target].above.append(previous)
        slots[edge.target].shifts.append(shift)
    return slots, rows


def _sweep(rows: dict[int, list[str]], slots: dict[str, _Slot], downward: bool) -> None:
    column: dict[str, float] = {}
    for row in sorted(rows, reverse=not downward):
        members = rows[row]
        previous = {key: index - (len(members) - 1) / 2 for index, key in enumerate(members)}

        def barycentre(key: str, previous: dict[str, float] = previous) -> float:
            slot = slots[key]
            if downward:
                placed = [column[n] + shift for n, shift in zip(slot.above, slot.shifts) if n in column]
            else:
                placed = [column[n] for n in slot.below if n in column]
            return sum(placed) / len(placed) if placed else previous[key]

        members.sort(key=barycentre)  # stable: the previous order breaks ties
        for index, key in enumerate(members):
            column[key] = index - (len(members) - 1) / 2


def layered_positions(document: NetworkDocument) -> dict[str, tuple[float, float]]:
    """Return a position per node id: rows by longest path, no overlaps, long edges in free columns."""
    row_of = _rows(document)
    slots, rows = _slots(document, row_of)
    _sweep(rows, slots, downward=True)
    _sweep(rows, slots, downward=False)
    positions = {}
    for row, members in rows.items():
        for index, key in enumerate(members):
            if key in document:
                positions[key] = ((index - (len(members) - 1) / 2) * COLUMN_SPACING, row * ROW_SPACING)
    return positions


def apply_layered_layout(document: NetworkDocument) -> None:
    """Move every node to its :func:`layered_positions` place (one ``NodeMoved`` each)."""
    for node_id, position in layered_positions(document).items():
        document.move_node(node_id, position)
