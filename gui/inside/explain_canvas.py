"""The picture of "Why this class?": the heat map over or beside the input, its colour bar, the top classes.

Pure drawing: the view (:mod:`gui.inside.explain_view`) hands these widgets an input, a
heat map and its method, or the top classes with their probabilities.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QFont,
    QFontMetrics,
    QImage,
    QMouseEvent,
    QPainter,
    QPaintEvent,
    QPalette,
    QPen,
)
from PySide6.QtWidgets import QSizePolicy, QWidget

from gui.inside.maps import SIGNED_MAP, accent, colourise, paint_colour_bar, rgb_qimage
from gui.widgets.images import sample_to_uint8
from gui.widgets.sample_grid import muted_colour

DEFAULT_OPACITY = 80
LEGENDS = {
    "gradcam": (
        "strong evidence",
        "none",
        "Warm colours: the layer's features there speak for the class (the strongest is 1).",
    ),
    "saliency": ("most sensitive", "insensitive", "Warm colours: changing these pixels changes the class score most."),
    "smoothgrad": (
        "most sensitive",
        "insensitive",
        "Warm colours: pixels the class score depends on, with the noise averaged out.",
    ),
    "occlusion": (
        "hiding hurts",
        "hiding helps",
        "Red: hiding these pixels lowers the class probability; blue: hiding them raises it.",
    ),
}
"""Per method: what the top and bottom of the colour bar mean, and a sentence for the legend."""
UNSIGNED_MAP = "turbo"


def heat_levels(heatmap: np.ndarray, method: str) -> tuple[float, float]:
    """The values at the bottom and top of the colour bar: ``0 … max`` or ``±max|v|`` (occlusion)."""
    finite = heatmap[np.isfinite(heatmap)]
    top = float(np.abs(finite).max()) if finite.size else 0.0
    top = top if top > 0 else 1.0
    return (-top, top) if method == "occlusion" else (0.0, top)


def colour_map_of(method: str) -> str:
    return SIGNED_MAP if method == "occlusion" else UNSIGNED_MAP


def input_rgb(x: np.ndarray) -> np.ndarray:
    """The input ``(C, H, W)`` as ``(H, W, 3)`` uint8 (grey repeated into three channels)."""
    pixels = sample_to_uint8(x)
    return pixels if pixels.ndim == 3 else np.repeat(pixels[..., None], 3, axis=-1)


def overlay_weight(heat: np.ndarray, levels: tuple[float, float], opacity: float) -> np.ndarray:
    """How much of the heat map covers each pixel: ``opacity · strength``, strength in ``[0, 1]``.

    Strength is the value's share of the colour bar's top (its magnitude for occlusion), so the input
    shows through where there is little evidence and the strongest places read first.
    """
    low, high = levels
    strength = np.abs(heat) / max(abs(low), high) if low < 0 else (heat - low) / (high - low)
    return opacity * np.clip(np.nan_to_num(strength, nan=0.0), 0.0, 1.0)


def blend(image: np.ndarray, heat_rgb: np.ndarray, weight: np.ndarray | float) -> np.ndarray:
    """``(1 − w) · image + w · heat`` per pixel, both ``(H, W, 3)`` uint8; ``w`` scalar or ``(H, W)``."""
    w = np.asarray(weight, dtype=np.float32)
    w = w[..., None] if w.ndim == 2 else w
    mixed = (1.0 - w) * image.astype(np.float32) + w * heat_rgb.astype(np.float32)
    return np.clip(np.rint(mixed), 0, 255).astype(np.uint8)


# -- the picture ---------------------------------------------------------------------------


def _fit_scale(room: float) -> float:
    """Whole-number zoom when enlarging by 2 or more, so pixels stay square."""
    return float(int(room)) if room >= 2 else room


class ExplainCanvas(QWidget):
    """The input and its heat map, overlaid or side by side, with a colour bar that says what high means."""

    BAR_ROOM = 132
    GAP = 18

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.image: np.ndarray | None = None
        self.heat: np.ndarray | None = None
        self.method = "gradcam"
        self.levels = (0.0, 1.0)
        self.side_by_side = False
        self.opacity = DEFAULT_OPACITY / 100
        self.input_caption = ""
        self.heat_caption = ""
        self.legend = ""
        self.message = ""
        self._input_image: QImage | None = None
        self._heat_image: QImage | None = None
        self._overlay_image: QImage | None = None
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(320, 220)

    def set_picture(self, x: np.ndarray | None, heat: np.ndarray | None, method: str) -> None:
        """The input ``(C, H, W)`` in ``[0, 1]`` and its ``(H, W)`` map (either may be None)."""
        self.image = input_rgb(x) if x is not None else None
        self.heat, self.method = heat, method
        self._input_image = rgb_qimage(self.image) if self.image is not None else None
        if heat is not None:
            self.levels = heat_levels(heat, method)
            self._heat_image = rgb_qimage(self.heat_rgb())
        else:
            self._heat_image = None
        self._rebuild_overlay()

    def set_view(self, side_by_side: bool, opacity: float) -> None:
        self.side_by_side, self.opacity = side_by_side, opacity
        self._rebuild_overlay()

    def heat_rgb(self) -> np.ndarray:
        """The heat map's colours, ``(H, W, 3)`` uint8."""
        assert self.heat is not None
        return colourise(self.heat, *self.levels, colour_map_of(self.method))

    def overlay_rgb(self) -> np.ndarray | None:
        """What the overlay shows: the input blended with the heat map at the chosen opacity."""
        if self.image is None or self.heat is None or self.image.shape[:2] != self.heat.shape:
            return None
        return blend(self.image, self.heat_rgb(), overlay_weight(self.heat, self.levels, self.opacity))

    def _rebuild_overlay(self) -> None:
        overlay = self.overlay_rgb() if not self.side_by_side else None
        self._overlay_image = rgb_qimage(overlay) if overlay is not None else None
        self.update()

    def _panes(self) -> list[QRectF]:
        """One square-pixel pane per picture shown, centred, below room for a caption."""
        if self.image is None:
            return []
        h, w = self.image.shape[:2]
        count = 2 if self.side_by_side else 1
        line = QFontMetrics(self.font()).height()
        area = QRectF(self.rect()).adjusted(8, 16 + line, -8 - self.BAR_ROOM, -16 - line)
        room_w = (area.width() - self.GAP * (count - 1)) / count
        scale = _fit_scale(max(min(room_w / w, area.height() / h), 0.1))
        pane_w, pane_h = w * scale, h * scale
        total = count * pane_w + (count - 1) * self.GAP
        left = area.left() + max((area.width() - total) / 2, 0)
        return [QRectF(left + i * (pane_w + self.GAP), area.top(), pane_w, pane_h) for i in range(count)]

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        palette = self.palette()
        panes = self._panes()
        if not panes or self._heat_image is None:
            painter.setPen(muted_colour(palette))
            text = self.message or "Computing…"
            painter.drawText(self.rect(), int(Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap), text)
            return
        assert self.image is not None
        smooth = panes[0].width() < self.image.shape[1] * 2  # whole-number zoom: keep pixels crisp
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, smooth)
        text_colour = palette.color(QPalette.ColorRole.WindowText)
        if self.side_by_side:
            pictures = [(self._input_image, self.input_caption), (self._heat_image, self.heat_caption)]
        else:
            pictures = [(self._overlay_image or self._heat_image, self.heat_caption)]
        for pane, (image, caption) in zip(panes, pictures):
            painter.setPen(text_colour)
            metrics = QFontMetrics(self.font())
            painter.drawText(
                QPointF(pane.left(), pane.top() - 8),
                metrics.elidedText(caption, Qt.TextElideMode.ElideRight, int(pane.width() + self.BAR_ROOM)),
            )
            if image is not None:
                painter.drawImage(pane, image)
            painter.setPen(QPen(muted_colour(palette), 1))
            painter.drawRect(pane)
        self._paint_colour_bar(painter, panes[-1], palette)
        painter.setPen(muted_colour(palette))
        legend = QRectF(panes[0].left(), panes[0].bottom() + 6, self.width() - panes[0].left() - 8, 40)
        painter.drawText(legend, int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop), self.legend)

    def _paint_colour_bar(self, painter: QPainter, pane: QRectF, palette: QPalette) -> None:
        height = min(pane.height(), 260.0)
        bar = QRectF(pane.right() + 14, pane.top() + (pane.height() - height) / 2, 12, height)
        small = paint_colour_bar(painter, bar, colour_map_of(self.method), muted_colour(palette), self.font())
        metrics = QFontMetrics(small)
        high_word, low_word, _ = LEGENDS[self.method]
        low, high = self.levels
        left = bar.right() + 6
        painter.setPen(palette.color(QPalette.ColorRole.WindowText))
        painter.drawText(QPointF(left, bar.top() + metrics.ascent()), f"{high:.2g}")
        painter.drawText(QPointF(left, bar.bottom() - metrics.descent()), f"{low:.2g}")
        painter.setPen(muted_colour(palette))
        painter.drawText(QPointF(left, bar.top() + metrics.ascent() + metrics.height()), high_word)
        painter.drawText(QPointF(left, bar.bottom() - metrics.descent() - metrics.height()), low_word)
        if self.method == "occlusion":
            painter.drawText(QPointF(left, bar.center().y() + metrics.ascent() / 2), "0")
        painter.setFont(self.font())

    def sizeHint(self) -> QSize:
        return QSize(560, 320)


class ClassBars(QWidget):
    """The most probable classes as bars; the predicted one stands out, the explained one is marked.

    Signals
    -------
    class_clicked(int)
        A class's row was clicked.
    """

    class_clicked = Signal(int)
    ROW = 26
    NAME_WIDTH = 76

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.top: list[tuple[int, float]] = []
        self.names: list[str] = []
        self.explained: int | None = None
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
        self.setToolTip("Click a class to explain it.")

    def set_classes(self, top: list[tuple[int, float]], names: list[str], explained: int | None) -> None:
        self.top, self.names, self.explained = top, names, explained
        self.setFixedSize(self.sizeHint())
        self.update()

    def row_at(self, y: float) -> int | None:
        row = int(y // self.ROW)
        return row if 0 <= row < len(self.top) else None

    def mousePressEvent(self, event: QMouseEvent) -> None:
        row = self.row_at(event.position().y())
        if row is not None:
            self.class_clicked.emit(self.top[row][0])

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        palette = self.palette()
        colour = accent(palette)
        bar_left, bar_room = self.NAME_WIDTH + 4, self.width() - self.NAME_WIDTH - 56
        for row, (index, probability) in enumerate(self.top):
            y = row * self.ROW
            line = QRectF(0, y + 1, self.width(), self.ROW - 2)
            if index == self.explained:
                marked = QColor(palette.color(QPalette.ColorRole.Highlight))
                marked.setAlpha(70)
                painter.fillRect(line, marked)
            font = QFont(self.font())
            font.setBold(row == 0)
            painter.setFont(font)
            metrics = QFontMetrics(font)
            painter.setPen(palette.color(QPalette.ColorRole.WindowText))
            name = metrics.elidedText(self.names[index], Qt.TextElideMode.ElideRight, self.NAME_WIDTH - 6)
            centre = int(Qt.AlignmentFlag.AlignVCenter)
            painter.drawText(
                QRectF(4, y, self.NAME_WIDTH - 4, self.ROW), centre | int(Qt.AlignmentFlag.AlignLeft), name
            )
            bar = QRectF(bar_left, y + 7, max(bar_room * probability, 1.0), self.ROW - 14)
            painter.fillRect(bar, colour if row == 0 else muted_colour(palette))
            painter.drawText(
                QRectF(bar_left + bar_room + 4, y, 52, self.ROW),
                centre | int(Qt.AlignmentFlag.AlignLeft),
                f"{probability:.1%}",
            )

    def sizeHint(self) -> QSize:
        return QSize(240, max(len(self.top), 1) * self.ROW)


# -- the tab -------------------------------------------------------------------------------
