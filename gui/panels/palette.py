"""The layer palette: every layer type, grouped by category, to drag onto the canvas.

A drag carries only the registry type name under :data:`LAYER_MIME_TYPE`; the drop
handler looks the name up in the registry like any other untrusted input.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from html import escape

from PySide6.QtCore import QEvent, QMimeData, QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QDrag,
    QFont,
    QFontMetrics,
    QIcon,
    QKeyEvent,
    QPainter,
    QPainterPath,
    QPalette,
    QPen,
    QPixmap,
)
from PySide6.QtWidgets import QAbstractItemView, QLabel, QLineEdit, QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget

from core.layers import CATEGORIES, layer_types
from core.layers.base import Layer
from gui.canvas.style import CATEGORY_COLOURS

LAYER_MIME_TYPE = "application/x-layerwise-layer-type"
"""MIME type of a dragged layer type; the payload is the registry type name in UTF-8."""

TYPE_NAME_ROLE = Qt.ItemDataRole.UserRole
"""Item data role holding the type name of a layer row (categories hold ``None``)."""

ICON_SIZES = (16, 20, 24, 32, 40, 48, 64)
"""Pixel sizes rendered into each category icon, so it stays sharp at any scale."""

MIN_WIDTH = 200

# -- category icons ------------------------------------------------------------------
# Each glyph paints in white on a 16 × 16 grid, inside the category's rounded tile.

Glyph = Callable[[QPainter], None]


def _stroke(painter: QPainter, path: QPainterPath, width: float = 1.6) -> None:
    pen = QPen(Qt.GlobalColor.white, width, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap, Qt.PenJoinStyle.RoundJoin)
    painter.strokePath(path, pen)


def _dot(painter: QPainter, x: float, y: float, radius: float) -> None:
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(Qt.GlobalColor.white)
    painter.drawEllipse(QPointF(x, y), radius, radius)


def _ring(painter: QPainter, x: float, y: float, radius: float) -> None:
    painter.setPen(QPen(Qt.GlobalColor.white, 1.1))
    painter.setBrush(Qt.BrushStyle.NoBrush)
    painter.drawEllipse(QPointF(x, y), radius, radius)


def _input_glyph(painter: QPainter) -> None:
    """An arrow entering a bar: data coming in."""
    path = QPainterPath(QPointF(3.2, 8))
    path.lineTo(9.6, 8)
    path.moveTo(6.8, 5.1)
    path.lineTo(9.7, 8)
    path.lineTo(6.8, 10.9)
    path.moveTo(12.6, 4.2)
    path.lineTo(12.6, 11.8)
    _stroke(painter, path)


def _convolution_glyph(painter: QPainter) -> None:
    """A 3 × 3 kernel."""
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(Qt.GlobalColor.white)
    for row in range(3):
        for column in range(3):
            painter.drawRoundedRect(QRectF(3.4 + 3.3 * column, 3.4 + 3.3 * row, 2.6, 2.6), 0.6, 0.6)


def _pooling_glyph(painter: QPainter) -> None:
    """A funnel: many values reduced to one."""
    path = QPainterPath(QPointF(3.2, 4))
    path.lineTo(12.8, 4)
    path.lineTo(9.1, 8.6)
    path.lineTo(9.1, 12.4)
    path.lineTo(6.9, 12.4)
    path.lineTo(6.9, 8.6)
    path.closeSubpath()
    painter.fillPath(path, Qt.GlobalColor.white)


def _resampling_glyph(painter: QPainter) -> None:
    """A small square grown into a larger one: a map resized."""
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(Qt.GlobalColor.white)
    painter.drawRoundedRect(QRectF(3.2, 8.2, 4.6, 4.6), 0.7, 0.7)
    path = QPainterPath(QPointF(3.6, 5.6))
    path.lineTo(3.6, 3.6)
    path.lineTo(12.4, 3.6)
    path.lineTo(12.4, 12.4)
    path.lineTo(10.4, 12.4)
    path.moveTo(7.4, 8.6)
    path.lineTo(10.6, 5.4)
    path.moveTo(8.2, 5.4)
    path.lineTo(10.6, 5.4)
    path.lineTo(10.6, 7.8)
    _stroke(painter, path, 1.3)


def _normalization_glyph(painter: QPainter) -> None:
    """A bell curve."""
    path = QPainterPath(QPointF(2.8, 11.6))
    path.cubicTo(6, 11.6, 6.2, 4.2, 8, 4.2)
    path.cubicTo(9.8, 4.2, 10, 11.6, 13.2, 11.6)
    _stroke(painter, path)


def _activation_glyph(painter: QPainter) -> None:
    """The ReLU hinge."""
    path = QPainterPath(QPointF(3, 11.2))
    path.lineTo(7.6, 11.2)
    path.lineTo(12.8, 4.4)
    _stroke(painter, path, 1.8)


def _regularization_glyph(painter: QPainter) -> None:
    """Four units, two of them dropped."""
    _dot(painter, 5.3, 5.3, 2)
    _dot(painter, 10.7, 10.7, 2)
    _ring(painter, 10.7, 5.3, 1.6)
    _ring(painter, 5.3, 10.7, 1.6)


def _merge_glyph(painter: QPainter) -> None:
    """Two branches joining into one."""
    path = QPainterPath(QPointF(3.2, 4.4))
    path.cubicTo(6.6, 4.4, 6.4, 8, 9.2, 8)
    path.moveTo(3.2, 11.6)
    path.cubicTo(6.6, 11.6, 6.4, 8, 9.2, 8)
    path.lineTo(12.8, 8)
    _stroke(painter, path)


def _dense_glyph(painter: QPainter) -> None:
    """Two units fully connected to two others."""
    left, right, top, bottom = 4.4, 11.6, 4.8, 11.2
    path = QPainterPath()
    for start in (top, bottom):
        for end in (top, bottom):
            path.moveTo(left, start)
            path.lineTo(right, end)
    _stroke(painter, path, 1.0)
    for x in (left, right):
        for y in (top, bottom):
            _dot(painter, x, y, 1.8)


GLYPHS: dict[str, Glyph] = {
    "Input": _input_glyph,
    "Convolution": _convolution_glyph,
    "Pooling": _pooling_glyph,
    "Resampling": _resampling_glyph,
    "Normalization": _normalization_glyph,
    "Activation": _activation_glyph,
    "Regularization": _regularization_glyph,
    "Merge": _merge_glyph,
    "Dense": _dense_glyph,
}


def category_pixmap(category: str, size: int, device_pixel_ratio: float = 1.0, outlined: bool = False) -> QPixmap:
    """Render the icon of ``category``: its glyph in white on a rounded tile of its colour.

    Parameters
    ----------
    category
        One of :data:`core.registry.CATEGORIES`.
    size
        Edge length in device-independent pixels.
    device_pixel_ratio
        Screen scale; the pixmap holds ``size × device_pixel_ratio`` pixels.
    outlined
        Ring the tile in white, so it stands out on a selection colour of similar hue.
    """
    pixmap = QPixmap(round(size * device_pixel_ratio), round(size * device_pixel_ratio))
    pixmap.setDevicePixelRatio(device_pixel_ratio)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.scale(size / 16, size / 16)
    painter.setPen(QPen(Qt.GlobalColor.white, 1.0) if outlined else Qt.PenStyle.NoPen)
    painter.setBrush(QColor(CATEGORY_COLOURS[category]))
    painter.drawRoundedRect(QRectF(0.5, 0.5, 15, 15), 3.6, 3.6)
    GLYPHS[category](painter)
    painter.end()
    return pixmap


def category_icon(category: str) -> QIcon:
    """Return the icon of ``category``, rendered at every size in :data:`ICON_SIZES`.

    Not cached at module level: a QIcon that outlives the QApplication crashes the
    interpreter at exit.

    Selected rows show the tile ringed in white instead of Qt's default tint, which
    would blend a blue tile into a blue selection.
    """
    icon = QIcon()
    for size in ICON_SIZES:
        icon.addPixmap(category_pixmap(category, size), QIcon.Mode.Normal)
        icon.addPixmap(category_pixmap(category, size, outlined=True), QIcon.Mode.Selected)
    return icon


def _search_icon(colour: QColor) -> QIcon:
    """A magnifying glass in ``colour``, for the leading edge of the search field."""
    icon = QIcon()
    for size in ICON_SIZES[:4]:
        pixmap = QPixmap(size, size)
        pixmap.fill(Qt.GlobalColor.transparent)
        painter = QPainter(pixmap)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.scale(size / 16, size / 16)
        painter.setPen(QPen(colour, 1.5, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap))
        painter.drawEllipse(QPointF(7, 7), 4, 4)
        painter.drawLine(QPointF(10, 10), QPointF(13, 13))
        painter.end()
        icon.addPixmap(pixmap)
    return icon


# -- texts and drag data -------------------------------------------------------------


def format_default(value: object) -> str:
    """Write a parameter default as it appears in a network file (``3``, ``"same"``, ``[1, 28, 28]``)."""
    return json.dumps(value, ensure_ascii=False)


def parameter_line(layer_class: type[Layer]) -> str:
    """Return ``"filters=32, kernel_size=3, …"``: every parameter with its default."""
    if not layer_class.param_specs:
        return "No parameters."
    return ", ".join(f"{spec.name}={format_default(spec.to_json(spec.default))}" for spec in layer_class.param_specs)


def type_tooltip(layer_class: type[Layer]) -> str:
    """Rich-text tooltip of a layer type: its name, category, summary and parameter defaults."""
    return (
        f"<p style='white-space:nowrap'><b>{escape(layer_class.type_name)}</b> · {escape(layer_class.category)}</p>"
        f"<p>{escape(layer_class.summary)}</p>"
        f"<p><code>{escape(parameter_line(layer_class))}</code></p>"
    )


def category_tooltip(category: str, count: int) -> str:
    """Tooltip of a category row, e.g. ``"Pooling — 3 layer types"``."""
    noun = "layer type" if count == 1 else "layer types"
    return f"{category} — {count} {noun}"


def mime_data_for(type_name: str) -> QMimeData:
    """Return drag data that carries ``type_name`` under :data:`LAYER_MIME_TYPE` and nothing else."""
    mime = QMimeData()
    mime.setData(LAYER_MIME_TYPE, type_name.encode("utf-8"))
    return mime


def type_name_from_mime(mime: QMimeData) -> str | None:
    """Return the layer type name carried by ``mime``, or ``None`` when it carries none.

    The name is not checked against the registry: callers look it up and handle an
    unknown name as they would any other input.
    """
    if not mime.hasFormat(LAYER_MIME_TYPE):
        return None
    return bytes(mime.data(LAYER_MIME_TYPE).data()).decode("utf-8", errors="replace")


def drag_pixmap(type_name: str, category: str, font: QFont, device_pixel_ratio: float = 1.0) -> QPixmap:
    """Render the image that follows the cursor while a layer type is dragged.

    A chip in the category colour with the category glyph and the type name in white,
    like the header of the node the drop creates.
    """
    bold = QFont(font)
    bold.setBold(True)
    metrics = QFontMetrics(bold)
    padding, icon_size, gap = 6, 16, 6
    height = max(icon_size, metrics.height()) + 2 * padding
    width = padding + icon_size + gap + metrics.horizontalAdvance(type_name) + padding + 2
    pixmap = QPixmap(round(width * device_pixel_ratio), round(height * device_pixel_ratio))
    pixmap.setDevicePixelRatio(device_pixel_ratio)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(QColor(CATEGORY_COLOURS[category]))
    painter.drawRoundedRect(QRectF(0, 0, width, height), 5, 5)
    painter.save()
    painter.translate(padding, (height - icon_size) / 2)
    GLYPHS[category](painter)
    painter.restore()
    painter.setPen(Qt.GlobalColor.white)
    painter.setFont(bold)
    text_rect = QRectF(padding + icon_size + gap, 0, width, height)
    painter.drawText(text_rect, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, type_name)
    painter.end()
    return pixmap


def matches(layer_class: type[Layer], query: str) -> bool:
    """Whether every word of ``query`` occurs in the type name, category or summary (any case)."""
    haystack = f"{layer_class.type_name} {layer_class.category} {layer_class.summary}".casefold()
    return all(word in haystack for word in query.casefold().split())


# -- widgets -------------------------------------------------------------------------


class LayerTree(QTreeWidget):
    """The category tree; drags a layer type as :func:`mime_data_for` data, copy only.

    A double-click or Enter on a type emits :attr:`activated_type`; on a category it
    folds or unfolds the category.
    """

    activated_type = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setHeaderHidden(True)
        self.setColumnCount(1)
        self.setFrameShape(QTreeWidget.Shape.NoFrame)
        self.setIconSize(QSize(16, 16))
        self.setIndentation(14)
        self.setUniformRowHeights(True)
        self.setAnimated(True)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setDragDropMode(QAbstractItemView.DragDropMode.DragOnly)
        self.setDragEnabled(True)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setStyleSheet("QTreeView::item { padding: 3px 2px; }")
        self.itemDoubleClicked.connect(self._emit_if_type)

    def mimeTypes(self) -> list[str]:
        return [LAYER_MIME_TYPE]

    def mimeData(self, items: list[QTreeWidgetItem]) -> QMimeData | None:
        names = [name for item in items if (name := item.data(0, TYPE_NAME_ROLE))]
        return mime_data_for(names[0]) if names else None

    def startDrag(self, supportedActions: Qt.DropAction) -> None:
        item = self.currentItem()
        mime = self.mimeData([item]) if item is not None else None
        if mime is None:
            return
        category = item.parent().text(0)
        drag = QDrag(self)
        drag.setMimeData(mime)
        drag.setPixmap(drag_pixmap(item.text(0), category, self.font(), self.devicePixelRatioF()))
        drag.exec(Qt.DropAction.CopyAction)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        item = self.currentItem()
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and item is not None:
            self._emit_if_type(item)
            self._toggle_if_category(item)
            return
        super().keyPressEvent(event)

    def _emit_if_type(self, item: QTreeWidgetItem) -> None:
        name = item.data(0, TYPE_NAME_ROLE)
        if name:
            self.activated_type.emit(name)

    def _toggle_if_category(self, item: QTreeWidgetItem) -> None:
        if item.parent() is None:
            item.setExpanded(not item.isExpanded())


class SearchField(QLineEdit):
    """The filter field: Escape clears it, Down moves into the tree."""

    down_pressed = Signal()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Escape and self.text():
            self.clear()
            return
        if event.key() == Qt.Key.Key_Down:
            self.down_pressed.emit()
            return
        super().keyPressEvent(event)


class PaletteWidget(QWidget):
    """Every layer type under its category, filtered by a search field.

    Drag a type onto the canvas, or double-click it (or press Enter) to have the
    window add it at the centre of the view.

    Signals
    -------
    layer_activated(str)
        The type name of a double-clicked or Enter-activated layer type.
    """

    layer_activated = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMinimumWidth(MIN_WIDTH)
        self.search = SearchField()
        self.search.setPlaceholderText("Search layers…")
        self.search.setClearButtonEnabled(True)
        self.search.setToolTip("Filter by name, category or description; Enter adds the selected type.")
        self._search_action = self.search.addAction(QIcon(), QLineEdit.ActionPosition.LeadingPosition)
        self.tree = LayerTree()
        self.empty_label = QLabel()
        self.empty_label.setAlignment(Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop)
        self.empty_label.setWordWrap(True)
        self.empty_label.setTextFormat(Qt.TextFormat.PlainText)
        self.empty_label.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        self.empty_label.setBackgroundRole(QPalette.ColorRole.Base)
        self.empty_label.setAutoFillBackground(True)
        self.empty_label.setMargin(12)
        self.empty_label.hide()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.setSpacing(6)
        layout.addWidget(self.search)
        layout.addWidget(self.tree, 1)
        layout.addWidget(self.empty_label, 1)
        self.setFocusProxy(self.search)
        self._populate()
        self._update_search_icon()
        self.search.textChanged.connect(self.apply_filter)
        self.search.returnPressed.connect(self._activate_selected_match)
        self.search.down_pressed.connect(self._focus_first_match)
        self.tree.activated_type.connect(self.layer_activated)

    def _populate(self) -> None:
        classes = layer_types()
        for category in CATEGORIES:
            members = [cls for cls in classes if cls.category == category]
            if members:
                self.tree.addTopLevelItem(self._category_item(category, members))
        self.tree.expandAll()

    def _category_item(self, category: str, members: list[type[Layer]]) -> QTreeWidgetItem:
        item = QTreeWidgetItem([category])
        item.setFlags(Qt.ItemFlag.ItemIsEnabled)
        item.setToolTip(0, category_tooltip(category, len(members)))
        font = QFont(self.font())
        font.setBold(True)
        item.setFont(0, font)
        for cls in members:
            item.addChild(self._type_item(cls))
        return item

    @staticmethod
    def _type_item(layer_class: type[Layer]) -> QTreeWidgetItem:
        item = QTreeWidgetItem([layer_class.type_name])
        item.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemIsDragEnabled)
        item.setIcon(0, category_icon(layer_class.category))
        item.setToolTip(0, type_tooltip(layer_class))
        item.setData(0, TYPE_NAME_ROLE, layer_class.type_name)
        return item

    def categories(self) -> Iterator[QTreeWidgetItem]:
        """Yield the category rows, in display order."""
        for index in range(self.tree.topLevelItemCount()):
            yield self.tree.topLevelItem(index)

    def type_items(self) -> Iterator[QTreeWidgetItem]:
        """Yield the layer type rows, in display order (hidden ones included)."""
        for category in self.categories():
            for index in range(category.childCount()):
                yield category.child(index)

    def apply_filter(self, query: str) -> None:
        """Show only the layer types that :func:`matches` ``query``; hide emptied categories."""
        classes = {cls.type_name: cls for cls in layer_types()}
        for category in self.categories():
            visible = 0
            for index in range(category.childCount()):
                child = category.child(index)
                shown = matches(classes[child.data(0, TYPE_NAME_ROLE)], query)
                child.setHidden(not shown)
                visible += shown
            category.setHidden(visible == 0)
            if visible and query.strip():
                category.setExpanded(True)
        self._show_matches(query)

    def _show_matches(self, query: str) -> None:
        first = self._first_match()
        self.tree.setVisible(first is not None)
        self.empty_label.setVisible(first is None)
        if first is None:
            self.empty_label.setText(f"No layer type matches “{query.strip()}”.")
        elif query.strip():
            current = self.tree.currentItem()
            if current is None or current.isHidden() or not current.data(0, TYPE_NAME_ROLE):
                self.tree.setCurrentItem(first)
            self.tree.scrollToItem(self.tree.currentItem())

    def _first_match(self) -> QTreeWidgetItem | None:
        return next((item for item in self.type_items() if not item.isHidden() and not item.parent().isHidden()), None)

    def _activate_selected_match(self) -> None:
        if not self.search.text().strip():
            return
        current = self.tree.currentItem()
        if current is None or current.isHidden() or not current.data(0, TYPE_NAME_ROLE):
            current = self._first_match()
        if current is not None:
            self.layer_activated.emit(current.data(0, TYPE_NAME_ROLE))

    def _focus_first_match(self) -> None:
        current = self.tree.currentItem()
        if current is None or current.isHidden():
            current = self._first_match()
        if current is not None:
            self.tree.setCurrentItem(current)
            self.tree.setFocus(Qt.FocusReason.TabFocusReason)

    def _update_search_icon(self) -> None:
        self._search_action.setIcon(_search_icon(self.palette().color(QPalette.ColorRole.PlaceholderText)))

    def changeEvent(self, event: QEvent) -> None:
        if event.type() == QEvent.Type.PaletteChange:
            self._update_search_icon()
        super().changeEvent(event)
