"""Undoable edits of a network document.

Every change a user makes goes through one of these commands on the window's
``QUndoStack``; a command calls document methods only, and the canvas and panels
redraw from the document's events. Undo restores exactly what was there, ids included.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from PySide6.QtGui import QUndoCommand

from core.graph.document import LayerTraining, NetworkDocument
from core.graph.events import Edge
from core.graph.fileformat import input_reference, layer_training
from core.layers.base import Layer

Position = tuple[float, float]

MERGE_SET_PARAM = 1
MERGE_MOVE = 2


class AddNodeCommand(QUndoCommand):
    """Add one layer; ``node_id`` is known after the first ``redo``."""

    def __init__(
        self,
        document: NetworkDocument,
        type_name: str,
        params: Mapping[str, Any] | None = None,
        position: Position = (0.0, 0.0),
        name: str | None = None,
    ) -> None:
        super().__init__(f"Add {type_name}")
        self.document, self.type_name, self.params, self.position = document, type_name, dict(params or {}), position
        self.name = name
        self.node_id: str | None = None

    def redo(self) -> None:
        node = self.document.add_node(
            self.type_name, self.params, name=self.name, position=self.position, node_id=self.node_id
        )
        self.node_id, self.name = node.id, node.name

    def undo(self) -> None:
        assert self.node_id is not None
        self.document.remove_node(self.node_id)


class RemoveNodesCommand(QUndoCommand):
    """Remove layers and every edge touching them; undo puts all of it back."""

    def __init__(self, document: NetworkDocument, node_ids: Iterable[str]) -> None:
        ids = list(dict.fromkeys(node_ids))
        super().__init__("Delete " + (document.node(ids[0]).name if len(ids) == 1 else f"{len(ids)} layers"))
        self.document = document
        self.snapshots = [self._snapshot(node_id) for node_id in ids]
        gone = set(ids)
        self.edges = [e for e in document.edges if e.source in gone or e.target in gone]

    def _snapshot(self, node_id: str) -> tuple[int, str, str, str, dict[str, Any], Position, LayerTraining]:
        node = self.document.node(node_id)
        index = [n.id for n in self.document.nodes].index(node_id)
        return (index, node.id, node.type_name, node.name, node.layer.get_config(), node.position, node.training)

    def redo(self) -> None:
        for _, node_id, *_ in self.snapshots:
            self.document.remove_node(node_id)

    def undo(self) -> None:
        for index, node_id, type_name, name, params, position, training in sorted(self.snapshots, key=lambda s: s[0]):
            self.document.add_node(
                type_name, params, name=name, position=position, node_id=node_id, index=index, training=training
            )
        for edge in sorted(self.edges, key=lambda e: (e.target, e.port)):
            self.document.connect(
                edge.source, edge.target, edge.port, source_port=edge.source_port, missing_output_ok=True
            )


class MoveNodesCommand(QUndoCommand):
    """Move layers; a drag of many nodes is one step."""

    def __init__(self, document: NetworkDocument, moves: Mapping[str, tuple[Position, Position]]) -> None:
        super().__init__("Move " + ("layer" if len(moves) == 1 else f"{len(moves)} layers"))
        self.document, self.moves = document, dict(moves)

    def redo(self) -> None:
        for node_id, (_, new) in self.moves.items():
            self.document.move_node(node_id, new)

    def undo(self) -> None:
        for node_id, (old, _) in self.moves.items():
            self.document.move_node(node_id, old)


class ConnectCommand(QUndoCommand):
    """Connect output ``source_port`` of a layer to input ``port`` (the next free one) of another."""

    def __init__(
        self,
        document: NetworkDocument,
        source_id: str,
        target_id: str,
        port: int | None = None,
        *,
        source_port: int = 0,
    ) -> None:
        super().__init__(f"Connect {document.node(source_id).name} → {document.node(target_id).name}")
        self.document, self.source_id, self.target_id, self.port = document, source_id, target_id, port
        self.source_port = source_port
        self.edge: Edge | None = None

    def redo(self) -> None:
        self.edge = self.document.connect(self.source_id, self.target_id, self.port, source_port=self.source_port)
        self.port = self.edge.port

    def undo(self) -> None:
        assert self.edge is not None
        self.document.disconnect(self.edge)


class DisconnectCommand(QUndoCommand):
    def __init__(self, document: NetworkDocument, edge: Edge) -> None:
        super().__init__(f"Disconnect {document.node(edge.source).name} → {document.node(edge.target).name}")
        self.document, self.edge = document, edge

    def redo(self) -> None:
        self.document.disconnect(self.edge)

    def undo(self) -> None:
        edge = self.edge
        self.document.connect(edge.source, edge.target, edge.port, source_port=edge.source_port, missing_output_ok=True)


def param_json(layer: Layer, param: str) -> Any:
    """One parameter's value as JSON, whether or not the layer's ``get_config`` writes it (defaults it leaves out)."""
    spec = next(s for s in layer.param_specs if s.name == param)
    return spec.to_json(layer.params[param])


class SetParamCommand(QUndoCommand):
    """Change one parameter. Consecutive changes of the same field merge (a spin-box drag is one step)."""

    def __init__(self, document: NetworkDocument, node_id: str, param: str, value: Any) -> None:
        node = document.node(node_id)
        super().__init__(f"Set {node.name}.{param}")
        self.document, self.node_id, self.param = document, node_id, param
        self.old = param_json(node.layer, param)
        self.new = value

    def id(self) -> int:
        return MERGE_SET_PARAM

    def mergeWith(self, other: QUndoCommand) -> bool:
        if not isinstance(other, SetParamCommand) or (other.node_id, other.param) != (self.node_id, self.param):
            return False
        self.new = other.new
        return True

    def redo(self) -> None:
        self.document.set_param(self.node_id, self.param, self.new)

    def undo(self) -> None:
        self.document.set_param(self.node_id, self.param, self.old)


class SetParamsCommand(QUndoCommand):
    """Change several parameters of one layer as one step, never merged with other edits.

    The document validates the combined result only (:meth:`NetworkDocument.set_params`),
    so parameters that constrain each other change together: an Input's whole preprocessing.
    ``changes`` holds JSON values by parameter name.
    """

    def __init__(self, document: NetworkDocument, node_id: str, changes: Mapping[str, Any], text: str = "") -> None:
        node = document.node(node_id)
        super().__init__(text or f"Set {', '.join(f'{node.name}.{name}' for name in changes)}")
        self.document, self.node_id = document, node_id
        self.old = {name: param_json(node.layer, name) for name in changes}
        self.new = dict(changes)

    def redo(self) -> None:
        self.document.set_params(self.node_id, self.new)

    def undo(self) -> None:
        self.document.set_params(self.node_id, self.old)


class SetTrainingCommand(QUndoCommand):
    """Freeze, unfreeze or set learning-rate multipliers of one or more layers, as one step."""

    def __init__(self, document: NetworkDocument, changes: Mapping[str, LayerTraining], text: str) -> None:
        super().__init__(text)
        self.document = document
        self.new = dict(changes)
        self.old = {node_id: document.node(node_id).training for node_id in self.new}

    def redo(self) -> None:
        for node_id, training in self.new.items():
            self.document.set_training(node_id, training)

    def undo(self) -> None:
        for node_id, training in self.old.items():
            self.document.set_training(node_id, training)


class ReplaceClassifierCommand(SetParamCommand):
    """Resize the network's classifier for another class count: its weights start afresh, the rest keep theirs."""

    def __init__(self, document: NetworkDocument, node_id: str, param: str, classes: int) -> None:
        super().__init__(document, node_id, param, classes)
        self.setText(f"Replace classifier {document.node(node_id).name} for {classes} classes")

    def id(self) -> int:
        return -1  # one step of its own, never merged with parameter edits


class RenameNodeCommand(QUndoCommand):
    def __init__(self, document: NetworkDocument, node_id: str, new_name: str) -> None:
        super().__init__(f"Rename {document.node(node_id).name} to {new_name}")
        self.document, self.node_id, self.old, self.new = document, node_id, document.node(node_id).name, new_name

    def redo(self) -> None:
        self.document.rename_node(self.node_id, self.new)

    def undo(self) -> None:
        self.document.rename_node(self.node_id, self.old)


class InsertFragmentCommand(QUndoCommand):
    """Insert a piece of network (paste, a template block, a bottleneck) in one step.

    Parameters
    ----------
    fragment
        ``{"layers": [...]}`` in the network file's layer format; names are made unique
        and inputs that name layers outside the fragment are dropped.
    offset
        Added to every position.
    wire_from
        Optional existing node that feeds the fragment: every layer that names ``entry``
        among its inputs (at that input's port), or without ``entry`` the first layer
        without inputs.
    wire_port
        The output of ``wire_from`` that feeds the fragment (0 but for layers with several).
    entry
        The name that stands for ``wire_from`` in the fragment's inputs (a template block's
        dropped Input layer, which may feed several of its layers: a residual's skip).
    rewire
        Optional ``(edge, fragment layer name)``: the existing edge is removed and its
        target is fed by that fragment layer instead (inserting in the middle of a chain).
    """

    def __init__(
        self,
        document: NetworkDocument,
        fragment: Mapping[str, Any],
        offset: Position = (0.0, 0.0),
        wire_from: str | None = None,
        rewire: tuple[Edge, str] | None = None,
        text: str = "Insert layers",
        entry: str | None = None,
        wire_port: int = 0,
    ) -> None:
        super().__init__(text)
        self.document, self.fragment, self.offset = document, fragment, offset
        self.wire_from, self.rewire, self.entry, self.wire_port = wire_from, rewire, entry, wire_port
        self.node_ids: list[str] = []
        self.names: dict[str, str] = {}
        self.added_edges: list[Edge] = []

    def redo(self) -> None:
        layers = self.fragment["layers"]
        self.node_ids, self.added_edges = [], []
        for layer in layers:
            stem = self.names.get(layer["name"]) or self.document.unique_name(layer["name"])
            x, y = layer.get("position", (0.0, 0.0))
            node = self.document.add_node(
                layer["type"],
                layer.get("params", {}),
                name=stem,
                position=(x + self.offset[0], y + self.offset[1]),
                node_id=self.names.get("#" + layer["name"]),
                training=layer_training(layer),
            )
            self.names[layer["name"]], self.names["#" + layer["name"]] = node.name, node.id
            self.node_ids.append(node.id)
        inside = {layer["name"] for layer in layers}
        for layer in layers:
            target = self.names["#" + layer["name"]]
            for source, source_port in map(input_reference, layer.get("inputs", [])):
                if source in inside:
                    edge = self.document.connect(self.names["#" + source], target, source_port=source_port)
                    self.added_edges.append(edge)
                elif source == self.entry and self.wire_from is not None:
                    edge = self.document.connect(self.wire_from, target, source_port=self.wire_port)
                    self.added_edges.append(edge)
        if self.wire_from is not None and self.entry is None:
            first = next(
                (
                    layer
                    for layer in layers
                    if not [s for s in layer.get("inputs", []) if input_reference(s)[0] in inside]
                ),
                None,
            )
            if first is not None and self.document.node(self.names["#" + first["name"]]).layer.max_inputs != 0:
                first_id = self.names["#" + first["name"]]
                self.added_edges.append(self.document.connect(self.wire_from, first_id, source_port=self.wire_port))
        if self.rewire is not None:
            edge, feeder = self.rewire
            self.document.disconnect(edge)
            self.added_edges.append(self.document.connect(self.names["#" + feeder], edge.target, edge.port))

    def undo(self) -> None:
        for edge in reversed(self.added_edges):
            self.document.disconnect(edge)
        for node_id in reversed(self.node_ids):
            self.document.remove_node(node_id)
        if self.rewire is not None:
            edge, _ = self.rewire
            self.document.connect(edge.source, edge.target, edge.port, source_port=edge.source_port)
