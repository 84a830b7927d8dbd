"""The canvas view: zoom, pan, rubber-band selection, drops from the palette."""

from __future__ import annotations

import math

from PySide6.QtCore import QEvent, QLineF, QPointF, QRectF, Qt
from PySide6.QtGui import (
    QColor,
    QDragEnterEvent,
    QDragMoveEvent,
    QDropEvent,
    QKeyEvent,
    QMouseEvent,
    QPainter,
    QPen,
    QWheelEvent,
)
from PySide6.QtWidgets import QGraphicsView, QWidget

from core.errors import LayerwiseError
from core.layers import layer_class
from gui.canvas.scene import NetworkScene
from gui.canvas.style import theme_for
from gui.commands import AddNodeCommand
from gui.panels.palette import LAYER_MIME_TYPE, type_name_from_mime

MIN_ZOOM, MAX_ZOOM = 0.05, 4.0
READABLE_ZOOM = 0.8
GRID = 24.0


class NetworkView(QGraphicsView):
    """Shows a :class:`NetworkScene`; wheel zooms under the cursor, middle drag or Space+drag pans."""

    def __init__(self, scene: NetworkScene, parent: QWidget | None = None) -> None:
        super().__init__(scene, parent)
        self.setRenderHints(QPainter.RenderHint.Antialiasing | QPainter.RenderHint.TextAntialiasing)
        self.setDragMode(QGraphicsView.DragMode.RubberBandDrag)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.SmartViewportUpdate)
        self.setAcceptDrops(True)
        self.setSceneRect(QRectF(-1e5, -1e5, 2e5, 2e5))
        self._space_down = False
        self._pan_from: QPointF | None = None
        scene.set_theme(theme_for(self.palette()))

    def changeEvent(self, event: QEvent) -> None:
        if event.type() == QEvent.Type.PaletteChange:  # the system switched light/dark
            self.network_scene().set_theme(theme_for(self.palette()))
        super().changeEvent(event)

    def network_scene(self) -> NetworkScene:
        return self.scene()  # type: ignore[return-value]

    # -- zoom and pan ----------------------------------------------------------------

    def zoom(self) -> float:
        return self.transform().m11()

    def zoom_by(self, factor: float) -> None:
        target = min(max(self.zoom() * factor, MIN_ZOOM), MAX_ZOOM)
        self.scale(target / self.zoom(), target / self.zoom())

    def fit_all(self, readable: bool = False) -> None:
        """Show every node, never enlarged beyond 100 %.

        With ``readable``, never shrink below :data:`READABLE_ZOOM` either: a long network
        then shows its top (its input) at a size where labels can be read.
        """
        items = self.network_scene().node_items.values()
        if not items:
            return
        bounds = QRectF()
        for item in items:
            bounds = bounds.united(item.sceneBoundingRect())
        self.fitInView(bounds.adjusted(-60, -60, 60, 60), Qt.AspectRatioMode.KeepAspectRatio)
        if self.zoom() > 1.0:
            self.zoom_by(1.0 / self.zoom())
        if readable and self.zoom() < READABLE_ZOOM:
            self.zoom_by(READABLE_ZOOM / self.zoom())
            visible = self.mapToScene(self.viewport().rect()).boundingRect()
            self.centerOn(bounds.center().x(), bounds.top() - 40 + visible.height() / 2)
            return
        self.centerOn(bounds.center())

    def wheelEvent(self, event: QWheelEvent) -> None:
        steps = event.angleDelta().y() / 120
        if steps:
            self.zoom_by(math.pow(1.15, steps))
        event.accept()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space_down = True
            self.viewport().setCursor(Qt.CursorShape.OpenHandCursor)
            return
        if event.key() in (Qt.Key.Key_Delete, Qt.Key.Key_Backspace):
            self.network_scene().delete_selection()
            return
        super().keyPressEvent(event)

    def keyReleaseEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space_down = False
            self.viewport().unsetCursor()
            return
        super().keyReleaseEvent(event)

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.MiddleButton or (
            self._space_down and event.button() == Qt.MouseButton.LeftButton
        ):
            self._pan_from = event.position()
            self.viewport().setCursor(Qt.CursorShape.ClosedHandCursor)
            event.accept()
            return
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if self._pan_from is not None:
            delta = event.position() - self._pan_from
            self._pan_from = event.position()
            self.horizontalScrollBar().setValue(int(self.horizontalScrollBar().value() - delta.x()))
            self.verticalScrollBar().setValue(int(self.verticalScrollBar().value() - delta.y()))
            event.accept()
            return
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if self._pan_from is not None:
            self._pan_from = None
            if self._space_down:
                self.viewport().setCursor(Qt.CursorShape.OpenHandCursor)
            else:
                self.viewport().unsetCursor()
            event.accept()
            return
        super().mouseReleaseEvent(event)

    def drawBackground(self, painter: QPainter, rect: QRectF) -> None:
        super().drawBackground(painter, rect)
        if self.zoom() < 0.35:
            return  # a grid finer than a few pixels is noise
        painter.setPen(QPen(QColor(self.network_scene().theme.grid), 0))
        left = math.floor(rect.left() / GRID) * GRID
        top = math.floor(rect.top() / GRID) * GRID
        lines = []
        x = left
        while x < rect.right():
            lines.append(QLineF(x, rect.top(), x, rect.bottom()))
            x += GRID
        y = top
        while y < rect.bottom():
            lines.append(QLineF(rect.left(), y, rect.right(), y))
            y += GRID
        painter.drawLines(lines)  # one call: per-line calls are slow and strain the bindings

    # -- drops from the palette -------------------------------------------------------

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if event.mimeData().hasFormat(LAYER_MIME_TYPE):
            event.acceptProposedAction()
        else:
            super().dragEnterEvent(event)

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:
        if event.mimeData().hasFormat(LAYER_MIME_TYPE):
            event.acceptProposedAction()
        else:
            super().dragMoveEvent(event)

    def dropEvent(self, event: QDropEvent) -> None:
        if not event.mimeData().hasFormat(LAYER_MIME_TYPE):
            super().dropEvent(event)
            return
        type_name = type_name_from_mime(event.mimeData()) or ""
        point = self.mapToScene(event.position().toPoint())
        if self.add_layer(type_name, (point.x(), point.y())):
            event.acceptProposedAction()

    def add_layer(self, type_name: str, position: tuple[float, float]) -> bool:
        """Add a layer of ``type_name`` at ``position`` (one undo step); select it."""
        scene = self.network_scene()
        try:
            layer_class(type_name)  # foreign drag data may name no layer: refuse before pushing
        except LayerwiseError as exc:
            scene.connection_refused.emit(str(exc))
            return False
        command = AddNodeCommand(scene.document, type_name, None, position)
        scene.undo_stack.push(command)
        scene.clearSelection()
        item = scene.node_items.get(command.node_id or "")
        if item is not None:
            item.setSelected(True)
        return True
