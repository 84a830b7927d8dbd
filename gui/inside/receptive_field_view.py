"""The receptive field view: an input image, a layer's feature map, and what each unit sees.

Hovering a unit of the feature map (right) draws on the image (left) the input region
the unit's value depends on: the theoretical receptive field from
:func:`core.analysis.unit_field.unit_input_region`, solid where it lies on the image and
dashed where it reaches into the zero padding, with its centre. The rest of the image is
dimmed. A toggle overlays the effective receptive field (Luo et al. 2016): the gradient
magnitude of the unit with respect to each input pixel, from the engine's backward pass
with the network's current weights. Clicking pins a unit; the arrow keys move it.
"""

from __future__ import annotations

import html
import math
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import (
    QBrush,
    QColor,
    QFont,
    QFontMetrics,
    QImage,
    QKeyEvent,
    QMouseEvent,
    QPainter,
    QPainterPath,
    QPaintEvent,
    QPalette,
    QPen,
)
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QSizePolicy,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from core.analysis.introspection import effective_receptive_field, feature_maps
from core.analysis.unit_field import (
    UnitFieldError,
    UnitRegion,
    feature_map_hw,
    field_overhang,
    unit_input_region,
)
from core.errors import LayerwiseError
from core.graph.validation import check_graph
from core.shapes import format_shape
from gui.inside.input_chooser import InputChooser, InputSample
from gui.inside.maps import (
    COLOUR_MAPS,
    DEFAULT_MAP,
    accent,
    colourise,
    heat_overlay,
    is_signed,
    paint_colour_bar,
    rgb_qimage,
    rgba_qimage,
    value_range,
)
from gui.inside.model_host import CompiledModel, ModelHost, shielded
from gui.widgets.images import array_to_qimage
from gui.widgets.sample_grid import muted_colour

MARGIN = 18
GAP = 96
"""Room between the image and the map, where the lines joining a unit to its field run."""
COLOUR_BAR = 64
"""Width kept right of the map for its colour bar and value labels."""
MAX_OVERHANG = 0.45
"""Padding shown around the image, at most this share of the image's side."""
ERF_CACHE = 256
ERF_DIM = 90
"""Alpha of the black laid over the field's pixels under the effective-field heat map."""


@dataclass(frozen=True)
class Geometry:
    """Where the image and the map are drawn, in widget coordinates.

    ``image_origin`` is the top-left corner of input pixel (0, 0) and ``scale`` the
    size of one input pixel; likewise ``map_origin`` and ``unit`` for the feature map.
    """

    image_origin: QPointF
    scale: float
    image_size: tuple[int, int]
    map_origin: QPointF
    unit: float
    map_size: tuple[int, int]
    padding_box: QRectF
    """The image plus the padding its layer's fields reach into (up to :data:`MAX_OVERHANG`)."""

    @property
    def image_rect(self) -> QRectF:
        h, w = self.image_size
        return QRectF(self.image_origin.x(), self.image_origin.y(), w * self.scale, h * self.scale)

    @property
    def map_rect(self) -> QRectF:
        h, w = self.map_size
        return QRectF(self.map_origin.x(), self.map_origin.y(), w * self.unit, h * self.unit)

    def pixels_rect(self, top: float, left: float, bottom: float, right: float) -> QRectF:
        """The screen rectangle covering input pixels ``top..bottom`` × ``left..right`` (inclusive)."""
        s, o = self.scale, self.image_origin
        return QRectF(o.x() + left * s, o.y() + top * s, (right - left + 1) * s, (bottom - top + 1) * s)

    def rect_pixels(self, rect: QRectF) -> tuple[int, int, int, int]:
        """Inverse of :meth:`pixels_rect`: ``(top, left, bottom, right)`` of a drawn rectangle."""
        s, o = self.scale, self.image_origin
        top, left = (rect.top() - o.y()) / s, (rect.left() - o.x()) / s
        bottom, right = (rect.top() + rect.height() - o.y()) / s - 1, (rect.left() + rect.width() - o.x()) / s - 1
        return (round(top), round(left), round(bottom), round(right))

    def unit_rect(self, row: int, col: int) -> QRectF:
        origin = self.map_origin
        return QRectF(origin.x() + col * self.unit, origin.y() + row * self.unit, self.unit, self.unit)

    def pixel_point(self, y: float, x: float) -> QPointF:
        """Screen position of the centre of input pixel ``(y, x)`` (fractional allowed)."""
        return QPointF(self.image_origin.x() + (x + 0.5) * self.scale, self.image_origin.y() + (y + 0.5) * self.scale)


def _fit_scale(room: float) -> float:
    """Whole-number zoom when enlarging by 2 or more, so pixels stay square and even."""
    return float(math.floor(room)) if room >= 2 else room


class FieldCanvas(QWidget):
    """Paints the image with the field of one unit, and the feature map with that unit.

    Signals
    -------
    unit_hovered(object)
        ``(row, col)`` under the pointer, or ``None`` when it leaves the map.
    unit_clicked(int, int)
        A unit was clicked.
    """

    unit_hovered = Signal(object)
    unit_clicked = Signal(int, int)
    unit_moved = Signal(int, int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.image: QImage | None = None
        self.image_hw = (0, 0)
        self.map_values: np.ndarray | None = None
        self.map_image: QImage | None = None
        self.levels = (0.0, 1.0)
        self.colour_map = DEFAULT_MAP
        self.region: UnitRegion | None = None
        self.unit: tuple[int, int] | None = None
        self.pinned: tuple[int, int] | None = None
        self.hovered: tuple[int, int] | None = None
        self.map_hw: tuple[int, int] = (0, 0)
        self.erf: np.ndarray | None = None
        self.erf_image: QImage | None = None
        self.overhang = (0, 0, 0, 0)
        self.image_caption = ""
        self.map_caption = ""
        self.message = ""
        self.map_message = ""
        self.setMouseTracking(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(360, 220)

    # -- content -------------------------------------------------------------------

    def set_image(self, x: np.ndarray | None) -> None:
        """The input sample ``(C, H, W)`` in ``[0, 1]``, or ``None``."""
        self.image = array_to_qimage(x) if x is not None else None
        self.image_hw = (int(x.shape[1]), int(x.shape[2])) if x is not None else (0, 0)
        self.update()

    def set_map(self, values: np.ndarray | None, colour_map: str) -> None:
        """The shown channel ``(h, w)`` of the feature map, coloured by ``colour_map``."""
        self.map_values, self.colour_map = values, colour_map
        if values is None:
            self.map_image = None
        else:
            self.levels = value_range(values, is_signed(colour_map))
            self.map_image = rgb_qimage(colourise(values, *self.levels, colour_map))
            self.map_hw = (int(values.shape[0]), int(values.shape[1]))
        self.update()

    def set_erf(self, erf: np.ndarray | None) -> None:
        """The effective receptive field ``(H, W)`` to overlay, or ``None``."""
        self.erf = erf
        self.erf_image = rgba_qimage(heat_overlay(erf)) if erf is not None else None
        self.update()

    # -- geometry ------------------------------------------------------------------

    def geometry_(self) -> Geometry | None:
        """Where things go at the current size; ``None`` without an image."""
        if self.image is None:
            return None
        height, width = self.image_hw
        area = QRectF(self.contentsRect()).adjusted(MARGIN, MARGIN, -MARGIN, -MARGIN)
        caption = QFontMetrics(self.font()).height() + 10
        area.setTop(area.top() + caption)
        pane = (area.width() - GAP - COLOUR_BAR) / 2
        top, left, bottom, right = self.overhang
        total_h, total_w = height + top + bottom, width + left + right
        scale = _fit_scale(min(area.height() / total_h, pane / total_w))
        scale = max(scale, 0.05)
        box_w, box_h = total_w * scale, total_h * scale
        box = QRectF(area.left() + (pane - box_w) / 2, area.top() + (area.height() - box_h) / 2, box_w, box_h)
        origin = QPointF(box.left() + left * scale, box.top() + top * scale)
        map_h, map_w = self.map_hw if self.map_image is not None else (height, width)
        map_h, map_w = max(map_h, 1), max(map_w, 1)
        # The map as tall as the image where it fits, so unit and field are easy to compare.
        unit = _fit_scale(min(height * scale / map_h, pane / map_w, area.height() / map_h))
        unit = max(unit, 0.05)
        map_left = area.left() + pane + GAP + (pane - map_w * unit) / 2
        image_mid = origin.y() + height * scale / 2
        map_origin = QPointF(map_left, image_mid - map_h * unit / 2)
        return Geometry(origin, scale, (height, width), map_origin, unit, (map_h, map_w), box)

    def field_rect(self) -> QRectF | None:
        """The drawn rectangle of the shown unit's full field (widget coordinates)."""
        geometry, region = self.geometry_(), self.region
        if geometry is None or region is None:
            return None
        return geometry.pixels_rect(*region.span)

    def clipped_rect(self) -> QRectF | None:
        """The drawn rectangle of the part of the field that lies on the image."""
        geometry, region = self.geometry_(), self.region
        if geometry is None or region is None or region.clipped is None:
            return None
        return geometry.pixels_rect(*region.clipped)

    def drawn_span(self) -> tuple[int, int, int, int] | None:
        """The field as drawn, read back in input pixels: ``(top, left, bottom, right)``, inclusive."""
        geometry, rect = self.geometry_(), self.field_rect()
        return geometry.rect_pixels(rect) if geometry is not None and rect is not None else None

    def unit_at(self, pos: QPointF) -> tuple[int, int] | None:
        geometry = self.geometry_()
        if geometry is None or self.map_image is None or not geometry.map_rect.contains(pos):
            return None
        col = int((pos.x() - geometry.map_origin.x()) // geometry.unit)
        row = int((pos.y() - geometry.map_origin.y()) // geometry.unit)
        h, w = self.map_hw
        return (row, col) if 0 <= row < h and 0 <= col < w else None

    # -- painting ------------------------------------------------------------------

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        palette = self.palette()
        geometry = self.geometry_()
        if geometry is None:
            self._centred_text(painter, QRectF(self.rect()), self.message or "No input image", palette)
            return
        self._paint_padding(painter, geometry, palette)
        self._paint_image(painter, geometry)
        self._paint_map(painter, geometry, palette)
        if self.region is not None:
            self._paint_field(painter, geometry, palette)
        self._paint_captions(painter, geometry, palette)

    def _centred_text(self, painter: QPainter, rect: QRectF, text: str, palette: QPalette) -> None:
        painter.setPen(muted_colour(palette))
        flags = int(Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap)
        painter.drawText(rect.adjusted(12, 12, -12, -12), flags, text)

    def _paint_padding(self, painter: QPainter, geometry: Geometry, palette: QPalette) -> None:
        box, image = geometry.padding_box, geometry.image_rect
        if box.contains(image.adjusted(-0.5, -0.5, 0.5, 0.5)) and box.size() == image.size():
            return
        path = QPainterPath()
        path.addRect(box)
        inner = QPainterPath()
        inner.addRect(image)
        zone = path.subtracted(inner)
        hatch = QColor(muted_colour(palette))
        hatch.setAlpha(70)
        painter.fillPath(zone, QBrush(hatch, Qt.BrushStyle.BDiagPattern))
        painter.setPen(QPen(hatch, 1, Qt.PenStyle.DotLine))
        painter.drawRect(box)
        if box.top() < image.top() - 14:
            small = QFont(self.font())
            small.setPointSizeF(max(small.pointSizeF() * 0.85, 7))
            painter.setFont(small)
            painter.setPen(muted_colour(palette))
            painter.drawText(
                QRectF(box.left() + 4, box.top() + 1, box.width() - 8, image.top() - box.top() - 2),
                int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter),
                "zero padding",
            )
            painter.setFont(self.font())

    def _paint_image(self, painter: QPainter, geometry: Geometry) -> None:
        assert self.image is not None
        rect = geometry.image_rect
        # Enlarged by whole numbers: nearest neighbour keeps every input pixel a crisp square.
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, geometry.scale < 2)
        painter.drawImage(rect, self.image)
        region = self.region
        if region is not None:
            # Dim what the unit does not see.
            shade = QPainterPath()
            shade.addRect(rect)
            if region.clipped is not None:
                seen = QPainterPath()
                seen.addRect(geometry.pixels_rect(*region.clipped))
                shade = shade.subtracted(seen)
            painter.fillPath(shade, QColor(0, 0, 0, 120))
        if self.erf_image is not None:
            if region is not None and region.clipped is not None:
                # The field's pixels recede too, so the heat map reads on bright and dark images alike.
                painter.fillRect(geometry.pixels_rect(*region.clipped), QColor(0, 0, 0, ERF_DIM))
            painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, False)
            painter.drawImage(rect, self.erf_image)

    def _paint_map(self, painter: QPainter, geometry: Geometry, palette: QPalette) -> None:
        rect = geometry.map_rect
        if self.map_image is None:
            pane = QRectF(rect.left(), geometry.image_rect.top(), rect.width(), geometry.image_rect.height())
            frame = QColor(muted_colour(palette))
            painter.setPen(QPen(frame, 1, Qt.PenStyle.DashLine))
            painter.drawRect(pane)
            self._centred_text(painter, pane, self.map_message or "Computing the feature map…", palette)
            return
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, False)
        painter.drawImage(rect, self.map_image)
        h, w = self.map_hw
        if geometry.unit >= 10 and h * w <= 4096:
            grid = QColor(palette.color(QPalette.ColorRole.Base))
            grid.setAlpha(70)
            painter.setPen(QPen(grid, 1))
            for row in range(1, h):
                y = rect.top() + row * geometry.unit
                painter.drawLine(QPointF(rect.left(), y), QPointF(rect.right(), y))
            for col in range(1, w):
                x = rect.left() + col * geometry.unit
                painter.drawLine(QPointF(x, rect.top()), QPointF(x, rect.bottom()))
        painter.setPen(QPen(muted_colour(palette), 1))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawRect(rect)
        self._paint_colour_bar(painter, rect, palette)
        colour = accent(palette)
        if self.pinned is not None:
            self._outline_unit(painter, geometry.unit_rect(*self.pinned), colour, 3)
        if self.hovered is not None and self.hovered != self.pinned:
            self._outline_unit(painter, geometry.unit_rect(*self.hovered), QColor("white"), 2)

    def _outline_unit(self, painter: QPainter, rect: QRectF, colour: QColor, width: float) -> None:
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.setPen(QPen(QColor(0, 0, 0, 160), width + 2.5))
        painter.drawRect(rect)
        painter.setPen(QPen(colour, width))
        painter.drawRect(rect)

    def _paint_colour_bar(self, painter: QPainter, map_rect: QRectF, palette: QPalette) -> None:
        bar = QRectF(map_rect.right() + 14, map_rect.top(), 12, map_rect.height())
        small = paint_colour_bar(painter, bar, self.colour_map, muted_colour(palette), self.font())
        painter.setPen(palette.color(QPalette.ColorRole.WindowText))
        low, high = self.levels
        metrics = QFontMetrics(small)
        left = bar.right() + 5
        painter.drawText(QPointF(left, bar.top() + metrics.ascent()), f"{high:.3g}")
        painter.drawText(QPointF(left, bar.bottom()), f"{low:.3g}")
        painter.setFont(self.font())

    def _paint_field(self, painter: QPainter, geometry: Geometry, palette: QPalette) -> None:
        region = self.region
        assert region is not None
        colour = accent(palette)
        full = geometry.pixels_rect(*region.span)
        image = geometry.image_rect
        halo = QPen(QColor(0, 0, 0, 150), 4.5)
        # The part in the padding: dashed, lightly filled, outside the image only.
        outside = QPainterPath()
        outside.addRect(QRectF(self.rect()))
        image_path = QPainterPath()
        image_path.addRect(image)
        painter.save()
        painter.setClipPath(outside.subtracted(image_path))
        tint = QColor(colour)
        tint.setAlpha(45)
        painter.fillRect(full, tint)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.setPen(QPen(colour, 2, Qt.PenStyle.DashLine))
        painter.drawRect(full)
        painter.restore()
        # The part on the image: solid.
        if region.clipped is not None:
            inside = geometry.pixels_rect(*region.clipped)
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.setPen(halo)
            painter.drawRect(inside)
            painter.setPen(QPen(colour, 2.5))
            painter.drawRect(inside)
        self._paint_centre(painter, geometry.pixel_point(*region.centre), colour)
        if self.unit is not None and self.map_image is not None:
            self._paint_connectors(painter, full, geometry.unit_rect(*self.unit), colour)

    def _paint_centre(self, painter: QPainter, centre: QPointF, colour: QColor) -> None:
        arm = 7.0
        for pen in (QPen(QColor(0, 0, 0, 170), 4), QPen(colour, 2)):
            painter.setPen(pen)
            painter.drawLine(QPointF(centre.x() - arm, centre.y()), QPointF(centre.x() + arm, centre.y()))
            painter.drawLine(QPointF(centre.x(), centre.y() - arm), QPointF(centre.x(), centre.y() + arm))

    def _paint_connectors(self, painter: QPainter, field: QRectF, unit: QRectF, colour: QColor) -> None:
        line = QColor(colour)
        line.setAlpha(150)
        painter.setPen(QPen(line, 1.3))
        painter.drawLine(field.topRight(), unit.topLeft())
        painter.drawLine(field.bottomRight(), unit.bottomLeft())

    def _paint_captions(self, painter: QPainter, geometry: Geometry, palette: QPalette) -> None:
        metrics = QFontMetrics(self.font())
        painter.setPen(palette.color(QPalette.ColorRole.WindowText))
        top = min(geometry.padding_box.top(), geometry.map_rect.top()) - metrics.descent() - 8
        box = geometry.padding_box
        text = metrics.elidedText(self.image_caption, Qt.TextElideMode.ElideRight, int(box.width() + GAP / 2))
        painter.drawText(QPointF(box.left(), top), text)
        map_rect = geometry.map_rect
        text = metrics.elidedText(self.map_caption, Qt.TextElideMode.ElideRight, int(map_rect.width() + COLOUR_BAR))
        painter.drawText(QPointF(map_rect.left(), top), text)

    # -- interaction ---------------------------------------------------------------

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        unit = self.unit_at(event.position())
        if unit != self.hovered:
            self.hovered = unit
            self.setCursor(Qt.CursorShape.CrossCursor if unit is not None else Qt.CursorShape.ArrowCursor)
            self.unit_hovered.emit(unit)
        super().mouseMoveEvent(event)

    def leaveEvent(self, event) -> None:
        if self.hovered is not None:
            self.hovered = None
            self.unit_hovered.emit(None)
        super().leaveEvent(event)

    def mousePressEvent(self, event: QMouseEvent) -> None:
        unit = self.unit_at(event.position())
        if event.button() == Qt.MouseButton.LeftButton and unit is not None:
            self.unit_clicked.emit(*unit)
        super().mousePressEvent(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        steps = {Qt.Key.Key_Left: (0, -1), Qt.Key.Key_Right: (0, 1), Qt.Key.Key_Up: (-1, 0), Qt.Key.Key_Down: (1, 0)}
        step = steps.get(Qt.Key(event.key()))
        if step is not None and self.pinned is not None and self.map_image is not None:
            h, w = self.map_hw
            row = min(max(self.pinned[0] + step[0], 0), h - 1)
            col = min(max(self.pinned[1] + step[1], 0), w - 1)
            self.unit_moved.emit(row, col)
            return
        super().keyPressEvent(event)

    def sizeHint(self) -> QSize:
        return QSize(900, 480)


def describe_region(region: UnitRegion, channel: int | None = None, value: float | None = None) -> str:
    """One line about a unit's field, e.g. ``unit (0, 0) of conv2 · sees 5×5 px at (0, 0) · 16 of 25 px in padding``."""
    height, width = region.size
    cy, cx = region.centre
    parts = [f"<b>unit ({region.row}, {region.col})</b> of <b>{html.escape(region.name)}</b>"]
    if channel is not None:
        parts.append(f"channel {channel}" + (f" = {value:.3g}" if value is not None else ""))
    parts.append(f"sees <b>{height}×{width} px</b> centred at ({cy:g}, {cx:g})")
    total = height * width
    if region.clipped is None:
        parts.append("entirely in the padding")
    elif region.touches_padding:
        top, left, bottom, right = region.clipped
        inside = (bottom - top + 1) * (right - left + 1)
        parts.append(f"{total - inside} of {total} px in padding")
    else:
        parts.append("all on the image")
    if not region.aligned:
        parts.append("merged branches: bounding box")
    return " · ".join(parts)


class ReceptiveFieldView(QWidget):
    """Input image and feature map side by side, with the field of the hovered or pinned unit.

    Attributes
    ----------
    canvas
        The painted image and map; its state (``region``, ``erf``, ``map_values``) is what is shown.
    channel, colour_map, erf_toggle
        The controls.
    info
        The line describing the shown unit (or what is wrong).
    """

    channel_changed = Signal(int)

    def __init__(self, host: ModelHost, chooser: InputChooser, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.host, self.chooser = host, chooser
        self.node_id: str | None = None
        self._sample: InputSample | None = None
        self._maps: np.ndarray | None = None
        self._maps_key: tuple | None = None
        self._erf_cache: OrderedDict[tuple, np.ndarray] = OrderedDict()
        self._pick_channel = True
        self._wanted_channel: int | None = None
        self._erf_error = ""
        self.canvas = FieldCanvas()
        self.channel = QSpinBox()
        self.channel.setPrefix("channel ")
        self.channel.setKeyboardTracking(False)
        self.channel.setToolTip("Which channel of the layer's output is shown; the effective field follows its unit.")
        self.strongest = QToolButton()
        self.strongest.setText("Strongest")
        self.strongest.setToolTip("Show the channel with the largest response to this image.")
        self.colour_map = QComboBox()
        self.colour_map.addItems(list(COLOUR_MAPS))
        self.colour_map.setCurrentText(DEFAULT_MAP)
        self.colour_map.setToolTip("Colours of the feature map.")
        self.erf_toggle = QCheckBox("Effective receptive field")
        self.erf_toggle.setToolTip(
            "Overlay |∂ unit / ∂ pixel|: how strongly each input pixel moves the unit, with the current weights "
            "(Luo et al. 2016). It is zero outside the theoretical field."
        )
        self.info = QLabel()
        self.info.setTextFormat(Qt.TextFormat.RichText)
        self.info.setWordWrap(True)
        self.info.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.hint = QLabel("Hover a unit of the feature map to see its field · click to pin it · arrow keys move it")
        self.hint.setProperty("role", "muted")
        controls = QHBoxLayout()
        controls.setSpacing(8)
        controls.addWidget(self.channel)
        controls.addWidget(self.strongest)
        controls.addSpacing(8)
        controls.addWidget(QLabel("Colours"))
        controls.addWidget(self.colour_map)
        controls.addSpacing(8)
        controls.addWidget(self.erf_toggle)
        controls.addStretch(1)
        controls.addWidget(self.hint)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.setSpacing(4)
        layout.addLayout(controls)
        layout.addWidget(self.canvas, 1)
        layout.addWidget(self.info)
        self.channel.valueChanged.connect(self._channel_changed)
        self.strongest.clicked.connect(lambda _checked=False: self.choose_strongest_channel())
        self.colour_map.currentTextChanged.connect(lambda _name: self._show_channel())
        self.erf_toggle.toggled.connect(lambda _on: self._update_erf())
        self.canvas.unit_hovered.connect(self._hovered)
        self.canvas.unit_clicked.connect(self.pin_unit)
        self.canvas.unit_moved.connect(self.pin_unit)

    # -- public ----------------------------------------------------------------------

    @property
    def region(self) -> UnitRegion | None:
        return self.canvas.region

    @property
    def erf(self) -> np.ndarray | None:
        return self.canvas.erf

    def set_layer(self, node_id: str | None, refresh: bool = True) -> None:
        """Look at layer ``node_id``: its strongest channel, its centre unit pinned."""
        if node_id != self.node_id:
            self.node_id = node_id
            self.canvas.pinned = self.canvas.hovered = self.canvas.unit = None
            self._maps = self._maps_key = None  # another layer's maps must not show under this one's name
            self._pick_channel, self._wanted_channel = True, None
            if refresh:
                self.refresh()

    def set_channel(self, channel: int) -> None:
        """Show ``channel``; before the layer's maps are known, once they are."""
        if self._maps is not None:
            self.channel.setValue(channel)
        else:
            self._wanted_channel, self._pick_channel = channel, False

    def set_erf_enabled(self, enabled: bool) -> None:
        self.erf_toggle.setChecked(enabled)

    def refresh(self) -> None:
        """Redraw from the network, weights and input as they are now (the network may have changed)."""
        try:
            self._refresh()
        except Exception as exc:  # noqa: BLE001 — never raised into Qt
            self._show_problem(f"{type(exc).__name__}: {exc}" if not isinstance(exc, LayerwiseError) else str(exc))

    @shielded
    def show_unit(self, row: int, col: int) -> None:
        """Show the field of unit ``(row, col)`` (as when hovered)."""
        self._set_unit((row, col))

    @shielded
    def pin_unit(self, row: int, col: int) -> None:
        """Pin unit ``(row, col)``: it stays shown when the pointer leaves the map."""
        self.canvas.pinned = (row, col)
        self.canvas.setFocus(Qt.FocusReason.OtherFocusReason)
        self._set_unit((row, col))

    @shielded
    def choose_strongest_channel(self) -> None:
        if self._maps is not None and len(self._maps):
            self.channel.setValue(int(np.argmax(self._maps.reshape(len(self._maps), -1).max(axis=1))))

    # -- building the picture --------------------------------------------------------

    def show_error(self, message: str) -> None:
        """Show ``message`` in place of the feature map and under the picture."""
        self._show_problem(message)

    def _show_problem(self, message: str) -> None:
        self.canvas.map_message = message
        self.canvas.set_map(None, self.colour_map.currentText())
        self.canvas.region = None
        self.canvas.set_erf(None)
        self.info.setText(f"<span style='color:#c62828'>{html.escape(message)}</span>")

    def _refresh(self) -> None:
        document = self.host.document
        sample = self.chooser.sample()
        self._sample = sample
        self.canvas.set_image(sample.x if sample is not None else None)
        self.canvas.message = self.chooser.error()
        if sample is None:
            self.canvas.region = None
            self.info.setText(html.escape(self.chooser.error()))
            return
        self.canvas.image_caption = f"Input · {sample.description} · {format_shape(sample.x.shape)}"
        if document is None or self.node_id is None or self.node_id not in document:
            self.canvas.map_caption = ""
            self._show_problem("Choose a layer to see its feature map and receptive fields.")
            return
        node = document.node(self.node_id)
        shape = check_graph(document).shapes.get(self.node_id)
        try:
            if shape is None:
                raise UnitFieldError(f"layer {node.name!r} has no known output shape; fix the network's problems first")
            map_hw = feature_map_hw(shape)
            height, width = sample.x.shape[1:]
            cap = max(1, round(MAX_OVERHANG * max(height, width)))
            top, left, bottom, right = (min(side, cap) for side in field_overhang(document, self.node_id))
            self.canvas.overhang = (top, left, bottom, right)
        except UnitFieldError as exc:
            self.canvas.overhang = (0, 0, 0, 0)
            self.canvas.map_caption = f"{node.name} · {node.type_name}"
            self._show_problem(str(exc))
            return
        self.canvas.map_hw = map_hw
        channels = shape[0]
        blocked = self.channel.blockSignals(True)
        self.channel.setRange(0, channels - 1)
        self.channel.setSuffix(f" of {channels}")
        self.channel.blockSignals(blocked)
        key = (self.host_key(), sample.key, self.node_id)
        if key == self._maps_key and self._maps is not None:
            self._show_channel()
            return
        self._maps, self._maps_key = None, None
        self.canvas.map_message = "Computing the feature map…"
        self.canvas.set_map(None, self.colour_map.currentText())
        node_id, x = self.node_id, sample.x
        self.host.request(
            "rf.maps",
            lambda compiled: (_maps_of(compiled, x, node_id), compiled.weights_note()),
            lambda result: self._maps_arrived(key, *result),
            self._show_problem,
            f"Computing the feature maps of {node.name}",
        )

    def host_key(self) -> tuple:
        return self.host.state_key()

    @shielded
    def _maps_arrived(self, key: tuple, maps: np.ndarray, weights_note: str) -> None:
        if self._sample is None or key != (self.host_key(), self._sample.key, self.node_id):
            return  # the view moved on while it was computed
        self._maps, self._maps_key = maps, key
        self._weights_note = weights_note
        if self._pick_channel or self._wanted_channel is not None:
            blocked = self.channel.blockSignals(True)  # one redraw (and one effective field) below, not two
            if self._wanted_channel is not None:
                self.channel.setValue(self._wanted_channel)
            else:
                self.choose_strongest_channel()
            self._pick_channel, self._wanted_channel = False, None
            self.channel.blockSignals(blocked)
            self.channel_changed.emit(self.channel.value())
        if self.canvas.pinned is None and self.canvas.unit is None:
            h, w = maps.shape[1:]
            self.canvas.pinned = (h // 2, w // 2)
        self._show_channel()

    @shielded
    def _channel_changed(self, channel: int) -> None:
        self._show_channel()
        self.channel_changed.emit(channel)

    @shielded
    def _show_channel(self) -> None:
        maps = self._maps
        if maps is None:
            return
        channel = min(self.channel.value(), len(maps) - 1)
        self.canvas.set_map(maps[channel], self.colour_map.currentText())
        document = self.host.document
        name = document.node(self.node_id).name if document is not None and self.node_id in document else ""
        h, w = maps.shape[1:]
        self.canvas.map_caption = f"{name} · channel {channel} of {len(maps)} · {h}×{w}"
        unit = self.canvas.hovered or self.canvas.pinned or self.canvas.unit
        self._set_unit(unit)

    @shielded
    def _hovered(self, unit: tuple[int, int] | None) -> None:
        self._set_unit(unit or self.canvas.pinned)

    def _set_unit(self, unit: tuple[int, int] | None) -> None:
        document = self.host.document
        self.canvas.unit = unit
        if unit is None or document is None or self.node_id is None or self.node_id not in document:
            self.canvas.region = None
            self.canvas.set_erf(None)
            self.canvas.update()
            return
        try:
            region = unit_input_region(document, self.node_id, *unit)
        except LayerwiseError as exc:
            self._show_problem(str(exc))
            return
        self.canvas.region = region
        self.canvas.update()
        self._update_info()
        self._update_erf()

    def _update_info(self) -> None:
        region, maps = self.canvas.region, self._maps
        if region is None:
            return
        channel = self.channel.value()
        value = float(maps[channel, region.row, region.col]) if maps is not None and channel < len(maps) else None
        text = describe_region(region, channel, value)
        if self.erf_toggle.isChecked():
            text += " · " + (self._erf_error or self._erf_summary())
        note = getattr(self, "_weights_note", "")
        if note:
            text += f" <span style='color:gray'>· {note}</span>"
        self.info.setText(text)

    def _erf_summary(self) -> str:
        erf = self.canvas.erf
        if erf is None:
            return "effective field: computing…"
        total = float(erf.sum())
        if total <= 0:
            return "effective field: zero (the unit is inactive here, e.g. a ReLU at 0)"
        return f"effective field: {_core_size(erf)} px hold half its weight"

    # -- effective receptive field ----------------------------------------------------

    @shielded
    def _update_erf(self) -> None:
        region, sample = self.canvas.region, self._sample
        self._erf_error = ""
        if not self.erf_toggle.isChecked() or region is None or sample is None or self._maps is None:
            self.host.cancel("rf.erf")
            self.canvas.set_erf(None)
            self._update_info()
            return
        channel = min(self.channel.value(), len(self._maps) - 1)
        key = (self.host_key(), sample.key, self.node_id, channel, region.row, region.col)
        cached = self._erf_cache.get(key)
        if cached is not None:
            self._erf_cache.move_to_end(key)
            self.canvas.set_erf(cached)
            self._update_info()
            return
        self.canvas.set_erf(None)
        self._update_info()
        node_id, x, row, col = self.node_id, sample.x, region.row, region.col
        self.host.request(
            "rf.erf",
            lambda compiled: effective_receptive_field(compiled.model, x, node_id, channel, row, col),
            lambda erf: self._erf_arrived(key, erf),
            self._erf_failed,
            f"Computing the effective receptive field of unit ({row}, {col})",
        )

    @shielded
    def _erf_arrived(self, key: tuple, erf: np.ndarray) -> None:
        self._erf_cache[key] = erf
        while len(self._erf_cache) > ERF_CACHE:
            self._erf_cache.popitem(last=False)
        region, sample = self.canvas.region, self._sample
        if region is None or sample is None or not self.erf_toggle.isChecked():
            return
        if key == (
            self.host_key(),
            sample.key,
            self.node_id,
            min(self.channel.value(), len(self._maps) - 1),
            region.row,
            region.col,
        ):
            self.canvas.set_erf(erf)
            self._update_info()

    def _erf_failed(self, message: str) -> None:
        self._erf_error = f"effective field unavailable: {message}"
        self.canvas.set_erf(None)
        self._update_info()


def _maps_of(compiled: CompiledModel, x: np.ndarray, node_id: str) -> np.ndarray:
    """``(C, h, w)`` output of a layer; a vector output (global pooling) as ``(F, 1, 1)``."""
    maps = feature_maps(compiled.model, x, node_id)
    return maps.reshape(maps.shape[0], 1, 1) if maps.ndim == 1 else maps


def _core_size(erf: np.ndarray) -> str:
    """``h×w`` of the smallest centred square-ish box around the peak holding half of ``erf``'s total."""
    total = float(erf.sum())
    peak = np.unravel_index(int(np.argmax(erf)), erf.shape)
    height, width = erf.shape
    for radius in range(max(height, width)):
        top, bottom = max(peak[0] - radius, 0), min(peak[0] + radius, height - 1)
        left, right = max(peak[1] - radius, 0), min(peak[1] + radius, width - 1)
        if float(erf[top : bottom + 1, left : right + 1].sum()) >= total / 2:
            return f"{bottom - top + 1}×{right - left + 1}"
    return f"{height}×{width}"
