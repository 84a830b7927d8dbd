"""The scene: one item per node and edge, kept in step with the document's events.

User gestures become undo commands (move, connect, delete); the document's events
then update the items. Facts shown on nodes and edges (shapes, parameter counts,
problems) come from one analysis per batch of events.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import shiboken6
from PySide6.QtCore import QPointF, QTimer, Signal
from PySide6.QtGui import QColor, QPainterPath, QPen, QUndoStack
from PySide6.QtWidgets import (
    QGraphicsPathItem,
    QGraphicsScene,
    QGraphicsSceneContextMenuEvent,
    QGraphicsSceneMouseEvent,
    QMenu,
    QToolTip,
)

from core.analysis.report import format_count
from core.analysis.summary import summarize
from core.graph.document import LayerTraining, NetworkDocument, Node
from core.graph.events import DocumentEvent, Edge, EdgeAdded, EdgeRemoved, NodeAdded, NodeMoved, NodeRemoved
from core.graph.validation import check_graph, connection_problem
from core.shapes import Shape, format_shape
from gui.canvas.items import EdgeItem, NodeItem
from gui.canvas.style import LIGHT, CanvasTheme
from gui.commands import ConnectCommand, DisconnectCommand, MoveNodesCommand, RemoveNodesCommand, SetTrainingCommand


def input_port_count(node: Node, connected: int) -> int:
    """Ports drawn on top: fixed arity, or one free port beyond the connected ones for merges."""
    limit = node.layer.max_inputs
    return connected + 1 if limit is None else limit


def _outputs_text(shapes: list[Shape]) -> str:
    """``6×28×28``; for several outputs ``3 × 2×28×28`` when they are alike, else each shape."""
    if len(shapes) > 1 and len(set(shapes)) == 1:
        return f"{len(shapes)} × {format_shape(shapes[0])}"
    return ", ".join(format_shape(shape) for shape in shapes)


class NetworkScene(QGraphicsScene):
    """Items for a document; emits ``connection_refused(reason)`` when a wiring is impossible."""

    connection_refused = Signal(str)
    selection_changed_ids = Signal(list)

    def __init__(self, document: NetworkDocument, undo_stack: QUndoStack, parent=None) -> None:
        super().__init__(parent)
        self.theme: CanvasTheme = LIGHT
        self.setBackgroundBrush(QColor(self.theme.background))
        self.undo_stack = undo_stack
        self.document = document
        self.node_items: dict[str, NodeItem] = {}
        self.edge_items: dict[Edge, EdgeItem] = {}
        self._unsubscribe: Callable[[], None] | None = None
        self._refresh_pending = False
        self._connect_from: tuple[NodeItem, int] | None = None  # the node and output a drag started at
        self._preview: QGraphicsPathItem | None = None
        self.selectionChanged.connect(self._announce_selection)
        self.set_document(document)

    def set_theme(self, theme: CanvasTheme) -> None:
        """Switch colours (light or dark) and redraw."""
        if theme != self.theme:
            self.theme = theme
            self.setBackgroundBrush(QColor(theme.background))
            self.update()

    # -- following the document --------------------------------------------------------

    def set_document(self, document: NetworkDocument) -> None:
        if self._unsubscribe:
            self._unsubscribe()
        self.clear()
        self.node_items.clear()
        self.edge_items.clear()
        self.document = document
        for node in document.nodes:
            self._add_node_item(node.id)
        for edge in document.edges:
            self._add_edge_item(edge)
        self._unsubscribe = document.subscribe(self._on_event)
        self.refresh_facts()

    def _add_node_item(self, node_id: str) -> None:
        node = self.document.node(node_id)
        item = NodeItem(node)
        item.setPos(QPointF(*node.position))
        self.addItem(item)
        self.node_items[node_id] = item

    def _add_edge_item(self, edge: Edge) -> None:
        item = EdgeItem(self.node_items[edge.source], self.node_items[edge.target], edge.port, edge.source_port)
        self.addItem(item)
        self.edge_items[edge] = item

    def _on_event(self, event: DocumentEvent) -> None:
        if isinstance(event, NodeAdded):
            self._add_node_item(event.node_id)
        elif isinstance(event, NodeRemoved):
            self.removeItem(self.node_items.pop(event.node_id))
        elif isinstance(event, EdgeAdded):
            self._add_edge_item(event.edge)
        elif isinstance(event, EdgeRemoved):
            item = self.edge_items.pop(event.edge)
            item.detach()
            self.removeItem(item)
        elif isinstance(event, NodeMoved):
            item = self.node_items[event.node_id]
            if item.pos() != QPointF(*event.new_position):
                item.setPos(QPointF(*event.new_position))
            return  # positions change no facts
        self._schedule_refresh()

    def _schedule_refresh(self) -> None:
        # Many events arrive together (a paste, an undo of a delete): analyse once after them.
        if not self._refresh_pending:
            self._refresh_pending = True
            QTimer.singleShot(0, self, self.refresh_facts)

    def refresh_facts(self) -> None:
        """Recompute shapes, parameter counts and problems, and show them on the items."""
        self._refresh_pending = False
        summary = summarize(self.document)
        check = check_graph(self.document)
        facts = {layer.node_id: layer for layer in summary.layers}
        problems = {p.node_id: p.message for p in summary.problems if p.node_id}
        for node_id, item in self.node_items.items():
            node = self.document.node(node_id)
            layer = facts.get(node_id)
            lines = [node.layer.describe() or node.layer.summary.split(":")[0]]
            if layer is not None and layer.output_shape is not None:
                params = f"  ·  {format_count(layer.params)} params" if layer.params else ""
                lines.append(f"→ {_outputs_text(check.output_shapes[node_id] or [layer.output_shape])}{params}")
            if not node.training.trainable:
                lines.append("frozen: training keeps its weights")
            elif node.training.lr_multiplier != 1.0:
                lines.append(f"learning rate ×{node.training.lr_multiplier:g}")
            problem = problems.get(node_id)
            if problem:
                lines.append(problem)
            connected = len(self.document.input_edges(node_id))
            item.update_from(node, lines, problem, input_port_count(node, connected))
        for edge, item in self.edge_items.items():
            shape = check.edge_shape(edge)
            item.set_label(format_shape(shape) if shape is not None else "")
            item.update_path()

    # -- selection and deletion -------------------------------------------------------

    def _announce_selection(self) -> None:
        if shiboken6.isValid(self):  # Qt clears the selection while destroying the scene
            self.selection_changed_ids.emit(self.selected_node_ids())

    def selected_node_ids(self) -> list[str]:
        return [item.node_id for item in self.selectedItems() if isinstance(item, NodeItem)]

    def delete_selection(self) -> None:
        """Delete selected layers (with their edges) and selected edges, as one undo step."""
        node_ids = self.selected_node_ids()
        edges = [
            edge
            for edge, item in self.edge_items.items()
            if item.isSelected() and edge.source not in node_ids and edge.target not in node_ids
        ]
        if not node_ids and not edges:
            return
        self.undo_stack.beginMacro("Delete")
        for edge in edges:
            self.undo_stack.push(DisconnectCommand(self.document, edge))
        if node_ids:
            self.undo_stack.push(RemoveNodesCommand(self.document, node_ids))
        self.undo_stack.endMacro()

    # -- freezing -------------------------------------------------------------------

    def _layers_with_weights(self) -> set[str]:
        return {layer.node_id for layer in summarize(self.document).layers if layer.params}

    def freeze_up_to(self, node_id: str) -> bool:
        """Freeze ``node_id`` and every layer with weights it depends on, as one undoable step.

        The usual start of transfer learning: the features up to here stay as trained,
        the layers after them learn. ``False`` when there is nothing left to freeze.
        """
        weighted, seen, stack = self._layers_with_weights(), set(), [node_id]
        while stack:
            current = stack.pop()
            if current not in seen:
                seen.add(current)
                stack += [node.id for node in self.document.inputs_of(current)]
        changes = {
            i: replace(self.document.node(i).training, trainable=False)
            for i in seen & weighted
            if self.document.node(i).training.trainable
        }
        if not changes:
            return False
        name = self.document.node(node_id).name
        self.undo_stack.push(SetTrainingCommand(self.document, changes, f"Freeze up to {name}"))
        return True

    def unfreeze_all(self) -> bool:
        """Make every layer trainable at the run's learning rate again, as one undoable step."""
        changes = {node.id: LayerTraining() for node in self.document.nodes if not node.training.is_default}
        if not changes:
            return False
        self.undo_stack.push(SetTrainingCommand(self.document, changes, "Unfreeze all"))
        return True

    def contextMenuEvent(self, event: QGraphicsSceneContextMenuEvent) -> None:
        item = self._node_at(event.scenePos())
        menu = QMenu()
        if item is not None:
            node = self.document.node(item.node_id)
            freeze = menu.addAction(f"Freeze up to here ({node.name})")
            freeze.setToolTip("Freeze this layer and every layer it depends on: their weights stay as they are.")
            freeze.triggered.connect(lambda _checked=False, i=item.node_id: self.freeze_up_to(i))
        unfreeze = menu.addAction("Unfreeze all")
        unfreeze.setEnabled(any(not node.training.is_default for node in self.document.nodes))
        unfreeze.triggered.connect(lambda _checked=False: self.unfreeze_all())
        menu.exec(event.screenPos())
        event.accept()

    # -- gestures -------------------------------------------------------------------

    def _node_at(self, point: QPointF) -> NodeItem | None:
        return next((item for item in self.items(point) if isinstance(item, NodeItem)), None)

    def mousePressEvent(self, event: QGraphicsSceneMouseEvent) -> None:
        item = self._node_at(event.scenePos())
        port = item.output_port_at(event.scenePos()) if item is not None else None
        if item is not None and port is not None:
            self._connect_from = (item, port)
            self._preview = QGraphicsPathItem()
            self._preview.setPen(QPen(QColor(self.theme.edge_selected), 2))
            self._preview.setZValue(2)
            self.addItem(self._preview)
            event.accept()
            return
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QGraphicsSceneMouseEvent) -> None:
        if self._connect_from is not None and self._preview is not None:
            item, port = self._connect_from
            start, end = item.output_port_position(port), event.scenePos()
            bend = max(abs(end.y() - start.y()) * 0.5, 30.0)
            path = QPainterPath(start)
            path.cubicTo(start + QPointF(0, bend), end - QPointF(0, bend), end)
            self._preview.setPath(path)
            return
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event: QGraphicsSceneMouseEvent) -> None:
        if self._connect_from is not None:
            (source, port), self._connect_from = self._connect_from, None
            if self._preview is not None:
                self.removeItem(self._preview)
                self._preview = None
            target = self._node_at(event.scenePos())
            if target is not None and target is not source:
                self.try_connect(source.node_id, target.node_id, event.screenPos(), source_port=port)
            return
        super().mouseReleaseEvent(event)
        self._commit_moves()

    def try_connect(self, source_id: str, target_id: str, screen_pos=None, *, source_port: int = 0) -> bool:
        """Connect output ``source_port`` of the source if possible (one undo step); otherwise say why, at the cursor."""
        reason = connection_problem(self.document, source_id, target_id, source_port=source_port)
        if reason is not None:
            self.connection_refused.emit(reason)
            if screen_pos is not None:
                QToolTip.showText(screen_pos, f"Cannot connect: {reason}")
            return False
        self.undo_stack.push(ConnectCommand(self.document, source_id, target_id, source_port=source_port))
        return True

    def _commit_moves(self) -> None:
        """After a drag, record every node that moved as one undo step."""
        moves = {}
        for node_id, item in self.node_items.items():
            old = self.document.node(node_id).position
            new = (item.pos().x(), item.pos().y())
            if old != new:
                moves[node_id] = (old, new)
        if moves:
            self.undo_stack.push(MoveNodesCommand(self.document, moves))
