"""Canvas items: a node per layer with its ports, and an edge per connection.

Items only draw what the document says; the scene updates them from document events.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QFont, QFontMetricsF, QPainter, QPainterPath, QPainterPathStroker, QPen
from PySide6.QtWidgets import QGraphicsItem, QGraphicsObject, QGraphicsPathItem, QStyleOptionGraphicsItem, QWidget

from core.graph.layout import ROW_SPACING
from gui.canvas.style import CATEGORY_COLOURS, LIGHT, NODE_HEADER_HEIGHT, NODE_WIDTH, PORT_RADIUS, CanvasTheme

if TYPE_CHECKING:
    from core.graph.document import Node

PORT_SPACING = 22.0
BODY_LINE = 16.0


def _nearest_port(scene_point: QPointF, centres: list[QPointF]) -> int | None:
    """The index of the port centre nearest ``scene_point`` within the (generous) hit area, if any."""
    reach = [(point - scene_point).manhattanLength() for point in centres]
    near = [index for index, distance in enumerate(reach) if distance <= PORT_RADIUS * 3]
    return min(near, key=reach.__getitem__) if near else None


def theme_of(item: QGraphicsItem) -> CanvasTheme:
    """The theme of the scene showing ``item`` (light while it is in none)."""
    return getattr(item.scene(), "theme", LIGHT)


LOCK_WIDTH = 15


def _blend(colour: QColor, toward: QColor, amount: float) -> QColor:
    """``colour`` moved ``amount`` (0–1) of the way to ``toward``."""
    return QColor(
        round(colour.red() + (toward.red() - colour.red()) * amount),
        round(colour.green() + (toward.green() - colour.green()) * amount),
        round(colour.blue() + (toward.blue() - colour.blue()) * amount),
    )


def _paint_lock(painter: QPainter, centre: QPointF) -> None:
    """A small padlock, white, centred at ``centre``: the mark of a frozen layer."""
    painter.save()
    painter.setPen(QPen(QColor("white"), 1.4))
    painter.setBrush(Qt.BrushStyle.NoBrush)
    painter.drawArc(QRectF(centre.x() - 3.2, centre.y() - 6.5, 6.4, 7.0), 0, 180 * 16)
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(QColor("white"))
    painter.drawRoundedRect(QRectF(centre.x() - 4.6, centre.y() - 2.2, 9.2, 7.2), 1.2, 1.2)
    painter.restore()


class NodeItem(QGraphicsObject):
    """One layer: coloured header with name and type, a body with key facts, ports.

    Input ports are spread along the top edge, output ports (one per output of the
    layer, in port order from left to right) along the bottom edge. The item's position
    is the node's centre, as in the document.
    """

    def __init__(self, node: Node) -> None:
        super().__init__()
        self.node_id = node.id
        self.setFlags(
            QGraphicsItem.GraphicsItemFlag.ItemIsMovable
            | QGraphicsItem.GraphicsItemFlag.ItemIsSelectable
            | QGraphicsItem.GraphicsItemFlag.ItemSendsGeometryChanges
        )
        self.setAcceptHoverEvents(True)
        self.setZValue(1)
        self.title = node.name
        self.type_name = node.type_name
        self.category = node.layer.category
        self.lines: list[str] = []
        self.problem: str | None = None
        self.input_ports = 0
        self.output_ports = 1
        self.frozen = False
        self.edges: list[EdgeItem] = []
        self._rect = QRectF()
        self.update_from(node, [], None, 0)

    # -- content -------------------------------------------------------------------

    def update_from(self, node: Node, lines: list[str], problem: str | None, input_ports: int) -> None:
        """Take the node's name, facts, problem and ports (one output per layer output); resize; redraw."""
        self.prepareGeometryChange()
        self.title, self.type_name, self.lines = node.name, node.type_name, lines
        self.category = node.layer.category
        self.frozen = not node.training.trainable
        self.problem = problem
        self.input_ports = input_ports
        self.output_ports = node.layer.output_count
        height = NODE_HEADER_HEIGHT + 8 + BODY_LINE * max(len(lines), 1)
        width = max(NODE_WIDTH, (max(input_ports, self.output_ports) - 1) * PORT_SPACING + 40)
        self._rect = QRectF(-width / 2, -height / 2, width, height)
        self.setToolTip(problem or f"{node.name} ({node.type_name})\n{node.layer.summary}")
        self.update()
        for edge in self.edges:
            edge.update_path()

    def input_port_position(self, port: int) -> QPointF:
        """Scene position of input ``port`` (spread along the top edge)."""
        count = max(self.input_ports, 1)
        x = (port - (count - 1) / 2) * PORT_SPACING
        return self.mapToScene(QPointF(x, self._rect.top()))

    def output_port_position(self, port: int = 0) -> QPointF:
        """Scene position of output ``port`` (spread along the bottom edge)."""
        x = (port - (self.output_ports - 1) / 2) * PORT_SPACING
        return self.mapToScene(QPointF(x, self._rect.bottom()))

    def input_port_at(self, scene_point: QPointF) -> int | None:
        """The input port under ``scene_point`` (generous hit area), if any."""
        return _nearest_port(scene_point, [self.input_port_position(port) for port in range(self.input_ports)])

    def output_port_at(self, scene_point: QPointF) -> int | None:
        """The output port under ``scene_point`` (generous hit area), if any."""
        return _nearest_port(scene_point, [self.output_port_position(port) for port in range(self.output_ports)])

    def is_on_output_port(self, scene_point: QPointF) -> bool:
        return self.output_port_at(scene_point) is not None

    # -- geometry and painting -------------------------------------------------------

    def boundingRect(self) -> QRectF:
        return self._rect.adjusted(-PORT_RADIUS - 2, -PORT_RADIUS - 2, PORT_RADIUS + 2, PORT_RADIUS + 2)

    def shape(self) -> QPainterPath:
        """The body and its ports, so that a press on a port half outside the body hits the node."""
        path = QPainterPath()
        path.setFillRule(Qt.FillRule.WindingFill)  # overlaps are unions, not holes
        path.addRoundedRect(self._rect, 6, 6)
        reach = PORT_RADIUS * 2
        ports = [self.mapFromScene(self.input_port_position(p)) for p in range(self.input_ports)]
        ports += [self.mapFromScene(self.output_port_position(p)) for p in range(self.output_ports)]
        for centre in ports:
            path.addEllipse(centre, reach, reach)
        return path.simplified()

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None) -> None:
        rect = self._rect
        theme = theme_of(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        header_colour = QColor(CATEGORY_COLOURS.get(self.category, "#607d8b"))
        if self.frozen:  # dimmed: a frozen layer keeps its weights while the others learn
            header_colour = _blend(header_colour, QColor(theme.node_body), 0.55)
        body = QPainterPath()
        body.addRoundedRect(rect, 6, 6)
        painter.fillPath(body, QColor(theme.node_body))
        painter.save()
        painter.setClipPath(body)  # the header takes the body's rounded top corners
        painter.fillRect(QRectF(rect.left(), rect.top(), rect.width(), NODE_HEADER_HEIGHT), header_colour)
        painter.restore()
        if self.problem:
            border = QPen(QColor(theme.error), 2.5)
        elif self.isSelected():
            border = QPen(QColor(theme.selection), 2.5)
        else:
            border = QPen(QColor(theme.node_border), 1)
        painter.setPen(border)
        painter.drawPath(body)

        title_font = QFont()
        title_font.setBold(True)
        title_font.setPointSizeF(9.5)
        type_font = QFont()
        type_font.setPointSizeF(8)
        painter.setFont(type_font)
        type_width = QFontMetricsF(type_font).horizontalAdvance(self.type_name) + 8
        header_text = QRectF(rect.left() + 8, rect.top(), rect.width() - 16, NODE_HEADER_HEIGHT)
        painter.setPen(QColor(255, 255, 255, 200))
        painter.drawText(header_text, Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignRight, self.type_name)
        painter.setFont(title_font)
        painter.setPen(QColor("white"))
        title_rect = header_text.adjusted(0, 0, -type_width, 0)
        if self.frozen:
            _paint_lock(painter, QPointF(title_rect.left() + 5, rect.top() + NODE_HEADER_HEIGHT / 2))
            title_rect = title_rect.adjusted(LOCK_WIDTH, 0, 0, 0)
        title = QFontMetricsF(title_font).elidedText(self.title, Qt.TextElideMode.ElideRight, title_rect.width())
        painter.drawText(title_rect, Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft, title)

        body_font = QFont()
        body_font.setPointSizeF(8.5)
        painter.setFont(body_font)
        metrics = QFontMetricsF(body_font)
        y = rect.top() + NODE_HEADER_HEIGHT + 4
        for index, line in enumerate(self.lines or ["–"]):
            last_is_problem = self.problem and index == len(self.lines) - 1
            painter.setPen(
                QColor(theme.error if last_is_problem else (theme.node_text if index == 0 else theme.node_text_dim))
            )
            text = metrics.elidedText(line, Qt.TextElideMode.ElideRight, rect.width() - 16)
            painter.drawText(
                QRectF(rect.left() + 8, y, rect.width() - 16, BODY_LINE), Qt.AlignmentFlag.AlignVCenter, text
            )
            y += BODY_LINE
        self._paint_ports(painter, header_colour, theme)

    def _paint_ports(self, painter: QPainter, colour: QColor, theme: CanvasTheme) -> None:
        painter.setPen(QPen(QColor(theme.node_body), 1.5))
        painter.setBrush(QBrush(colour))
        for port in range(self.input_ports):
            painter.drawEllipse(self.mapFromScene(self.input_port_position(port)), PORT_RADIUS, PORT_RADIUS)
        for port in range(self.output_ports):
            painter.drawEllipse(self.mapFromScene(self.output_port_position(port)), PORT_RADIUS, PORT_RADIUS)

    def itemChange(self, change: QGraphicsItem.GraphicsItemChange, value):
        if change == QGraphicsItem.GraphicsItemChange.ItemPositionHasChanged:
            for edge in self.edges:
                edge.update_path()
        return super().itemChange(change, value)


class EdgeItem(QGraphicsPathItem):
    """A connection from output ``source_port`` of a node to input ``port`` of another, drawn as a
    vertical S-curve, labelled with the tensor shape it carries."""

    def __init__(self, source: NodeItem, target: NodeItem, port: int, source_port: int = 0) -> None:
        super().__init__()
        self.source, self.target, self.port, self.source_port = source, target, port, source_port
        self.label = ""
        self._label_at: QPointF | None = None
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIsSelectable)
        self.setZValue(0)
        source.edges.append(self)
        target.edges.append(self)
        self.update_path()

    def detach(self) -> None:
        for node in (self.source, self.target):
            if self in node.edges:
                node.edges.remove(self)

    def set_label(self, text: str) -> None:
        if text != self.label:
            self.label = text
            self.update()

    def update_path(self) -> None:
        """An S-curve; an edge spanning several rows runs straight down its source's column
        (the layout keeps that column free) and curves only in the last row."""
        start = self.source.output_port_position(self.source_port)
        end = self.target.input_port_position(self.port)
        path = QPainterPath(start)
        self._label_at = None
        if end.y() - start.y() > 1.2 * ROW_SPACING:
            turn = QPointF(start.x(), end.y() - 0.8 * ROW_SPACING)
            path.lineTo(turn)
            self._label_at = start + QPointF(0, 0.3 * ROW_SPACING)  # in the gap below the source
            start = turn
        bend = max(abs(end.y() - start.y()) * 0.5, 40.0)
        path.cubicTo(start + QPointF(0, bend), end - QPointF(0, bend), end)
        self.setPath(path)

    def shape(self) -> QPainterPath:
        stroker = QPainterPathStroker()
        stroker.setWidth(10)
        return stroker.createStroke(self.path())

    def boundingRect(self) -> QRectF:
        return super().boundingRect().adjusted(-60, -12, 60, 12)

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None) -> None:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        theme = theme_of(self)
        colour = QColor(theme.edge_selected if self.isSelected() else theme.edge)
        painter.setPen(QPen(colour, 2.2 if self.isSelected() else 1.6))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawPath(self.path())
        if not self.label:
            return
        font = QFont()
        font.setPointSizeF(7.5)
        painter.setFont(font)
        metrics = QFontMetricsF(font)
        middle = self._label_at or self.path().pointAtPercent(0.5)
        width = metrics.horizontalAdvance(self.label) + 10
        box = QRectF(middle.x() - width / 2, middle.y() - 8, width, 16)
        painter.setPen(QPen(colour, 1))
        painter.setBrush(QColor(theme.node_body))
        painter.drawRoundedRect(box, 8, 8)
        painter.setPen(QColor(theme.node_text))
        painter.drawText(box, Qt.AlignmentFlag.AlignCenter, self.label)
