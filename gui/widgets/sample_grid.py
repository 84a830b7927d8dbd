"""A fixed grid of sample thumbnails, each with a caption, that scales with the widget."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QEvent, QPoint, QRect, QSize, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QFont,
    QFontMetrics,
    QHelpEvent,
    QImage,
    QMouseEvent,
    QPainter,
    QPaintEvent,
    QPalette,
)
from PySide6.QtWidgets import QSizePolicy, QToolTip, QWidget

from gui.widgets.images import array_to_qimage

SPACING = 6
"""Pixels between cells."""
PREFERRED_THUMB = 64
"""Thumbnail side the size hint asks for."""
HINT_COLUMNS = 8
CAPTION_SCALE = 0.9
FRAME = 2
"""Width of the accent frame around highlighted thumbnails (others get 1 pixel)."""
CAPTION_QUANTILE = 0.8
"""Cells are sized so this share of the captions fits whole."""
SNAP_TOLERANCE = 0.85
"""Upscaled thumbnails shrink to a whole multiple of the image size when they keep this share of the side."""


def accent_colour(palette: QPalette) -> QColor:
    """Red for highlighted captions and frames, readable on the palette's window colour."""
    dark = palette.color(QPalette.ColorRole.Window).lightness() < 128
    return QColor("#ff8a80" if dark else "#c62828")


def muted_colour(palette: QPalette) -> QColor:
    """Window text blended halfway towards the window colour: secondary text and frames."""
    text = palette.color(QPalette.ColorRole.WindowText)
    window = palette.color(QPalette.ColorRole.Window)
    mix = [0.55 * t + 0.45 * w for t, w in zip(text.getRgbF()[:3], window.getRgbF()[:3])]
    return QColor.fromRgbF(*mix)


@dataclass(frozen=True)
class GridLayout:
    """Where the cells go: ``columns`` per row, each ``cell`` big, thumbnails ``thumb`` big, from ``origin``."""

    columns: int
    cell: QSize
    thumb: QSize
    origin: QPoint
    caption_height: int


def best_layout(area: QSize, count: int, image_size: QSize, caption_height: int, caption_width: int) -> GridLayout:
    """The column count that gives the largest thumbnails of ``count`` images in ``area``.

    Parameters
    ----------
    area
        Room for the grid, in pixels.
    count
        Number of cells, ≥ 1.
    image_size
        Width and height of the samples; thumbnails keep this aspect ratio.
    caption_height, caption_width
        Height of the caption line under each thumbnail and the widest caption's width.
    """
    aspect = image_size.width() / max(image_size.height(), 1)
    best: tuple[float, float, int] = (-math.inf, 0.0, 1)
    for columns in range(1, count + 1):
        rows = math.ceil(count / columns)
        cell_width = (area.width() - (columns - 1) * SPACING) / columns
        cell_height = (area.height() - (rows - 1) * SPACING) / rows - caption_height
        height = min(cell_width / aspect, cell_height)
        # A caption cut short loses what it says (often its end, the figure), so whole captions
        # win unless the thumbnails would be less than half as big.
        room = cell_width + SPACING - 2  # a caption may spill into the gaps beside its cell
        score = height if room >= caption_width else height * 0.5 * room / caption_width
        if score > best[0]:
            best = (score, height, columns)
    height, columns = max(best[1], 4.0), best[2]
    height = _snapped(height, image_size.height())
    thumb = QSize(max(int(height * aspect), 4), int(height))
    room = (area.width() - (columns - 1) * SPACING) // columns
    # Cells grow past their thumbnail to fit captions, as far as the width allows.
    cell = QSize(max(thumb.width(), min(room, caption_width)), thumb.height() + caption_height)
    width = columns * cell.width() + (columns - 1) * SPACING
    # Centred across, at the top: the grid stays put when the widget grows taller.
    origin = QPoint(max((area.width() - width) // 2, 0), 0)
    return GridLayout(columns, cell, thumb, origin, caption_height)


def _snapped(side: float, image_side: int) -> float:
    """``side`` rounded down to a whole multiple of ``image_side`` when that costs little, so pixels stay even."""
    factor = side / max(image_side, 1)
    whole = math.floor(factor)
    return float(whole * image_side) if whole >= 1 and whole / factor >= SNAP_TOLERANCE else side


class SampleGrid(QWidget):
    """Thumbnails of samples in a grid that fills the widget, a caption under each.

    Signals
    -------
    sample_clicked(int)
        The index into the ``x`` last given to :meth:`set_samples` of a clicked thumbnail.
    """

    sample_clicked = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._images: list[QImage] = []
        self._captions: list[str] = []
        self._highlight: list[bool] = []
        self._image_size = QSize(1, 1)
        self._placeholder = ""
        self._hovered = -1
        self._pressed = -1
        self.setMouseTracking(True)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    # -- content ------------------------------------------------------------------

    def set_samples(self, x: np.ndarray, captions: list[str], *, highlight: list[bool] | None = None) -> None:
        """Show ``x`` with ``captions``.

        Parameters
        ----------
        x
            ``(N, C, H, W)`` values in ``[0, 1]`` (clipped); C 1 grey, C 3 RGB, other C
            the first channel. ``(N, H, W)`` is read as greyscale.
        captions
            ``N`` texts, one under each thumbnail (elided when too long; the tooltip
            shows the whole text).
        highlight
            ``N`` flags; flagged samples get an accent-coloured caption and frame.
        """
        x = np.asarray(x)
        if x.ndim == 3:
            x = x[:, None]
        if x.ndim != 4:
            raise ValueError(f"samples must have shape (N, C, H, W), got {x.shape}")
        if len(captions) != len(x):
            raise ValueError(f"{len(x)} samples but {len(captions)} captions")
        if highlight is not None and len(highlight) != len(x):
            raise ValueError(f"{len(x)} samples but {len(highlight)} highlight flags")
        self._images = [array_to_qimage(sample) for sample in x]
        self._captions = [str(c) for c in captions]
        self._highlight = [bool(h) for h in highlight] if highlight is not None else [False] * len(x)
        self._image_size = QSize(int(x.shape[3]), int(x.shape[2])) if len(x) else QSize(1, 1)
        self._hovered = self._pressed = -1
        self.updateGeometry()
        self.update()

    def clear(self) -> None:
        """Remove every thumbnail; the placeholder text shows instead."""
        self.set_samples(np.zeros((0, 1, 1, 1), dtype=np.float32), [])

    def count(self) -> int:
        """Number of thumbnails shown."""
        return len(self._images)

    def captions(self) -> list[str]:
        """The captions shown, in sample order."""
        return list(self._captions)

    def highlighted(self) -> list[bool]:
        """The highlight flag of each sample, in sample order."""
        return list(self._highlight)

    def set_placeholder(self, text: str) -> None:
        """Text shown centred while the grid is empty."""
        self._placeholder = text
        self.update()

    def placeholder(self) -> str:
        return self._placeholder

    def caption_font(self) -> QFont:
        """The widget's font a little smaller: captions are secondary to the pictures."""
        font = QFont(self.font())
        font.setPointSizeF(max(font.pointSizeF() * CAPTION_SCALE, 7.0))
        return font

    # -- geometry -----------------------------------------------------------------

    def grid_layout(self) -> GridLayout | None:
        """The current arrangement of the cells, ``None`` while empty."""
        if not self._images:
            return None
        metrics = QFontMetrics(self.caption_font())
        widths = sorted(metrics.horizontalAdvance(c) for c in self._captions)
        # Sized for most captions: one long outlier is elided (its tooltip has it whole) rather than
        # shrinking every thumbnail.
        caption_width = widths[int(CAPTION_QUANTILE * (len(widths) - 1))] + 2 if widths else 0
        # Inset so the frames drawn just outside the thumbnails stay inside the widget.
        rect = self.contentsRect().adjusted(FRAME, FRAME, -FRAME, -FRAME)
        layout = best_layout(rect.size(), len(self._images), self._image_size, metrics.height() + 4, caption_width)
        offset = rect.topLeft()
        return GridLayout(layout.columns, layout.cell, layout.thumb, layout.origin + offset, layout.caption_height)

    def cell_rect(self, index: int, layout: GridLayout | None = None) -> QRect:
        """Rectangle of cell ``index`` (thumbnail and caption) in widget coordinates; empty when out of range."""
        layout = layout or self.grid_layout()
        if layout is None or not 0 <= index < len(self._images):
            return QRect()
        row, column = divmod(index, layout.columns)
        left = layout.origin.x() + column * (layout.cell.width() + SPACING)
        top = layout.origin.y() + row * (layout.cell.height() + SPACING)
        return QRect(left, top, layout.cell.width(), layout.cell.height())

    def thumbnail_rect(self, index: int, layout: GridLayout | None = None) -> QRect:
        """Rectangle of the thumbnail of sample ``index``, centred at the top of its cell."""
        layout = layout or self.grid_layout()
        cell = self.cell_rect(index, layout)
        if layout is None or cell.isNull():
            return QRect()
        left = cell.left() + (cell.width() - layout.thumb.width()) // 2
        return QRect(left, cell.top(), layout.thumb.width(), layout.thumb.height())

    def index_at(self, pos: QPoint) -> int:
        """Index of the sample whose cell holds ``pos``, or -1."""
        layout = self.grid_layout()
        if layout is None:
            return -1
        step_x, step_y = layout.cell.width() + SPACING, layout.cell.height() + SPACING
        dx, dy = pos.x() - layout.origin.x(), pos.y() - layout.origin.y()
        if dx < 0 or dy < 0 or dx % step_x >= layout.cell.width() or dy % step_y >= layout.cell.height():
            return -1
        column, row = dx // step_x, dy // step_y
        index = row * layout.columns + column
        return index if column < layout.columns and index < len(self._images) else -1

    def sizeHint(self) -> QSize:
        count = max(len(self._images), 1)
        columns = min(count, HINT_COLUMNS)
        rows = math.ceil(count / columns)
        aspect = self._image_size.width() / max(self._image_size.height(), 1)
        thumb = QSize(round(PREFERRED_THUMB * min(aspect, 2.0)), PREFERRED_THUMB)
        caption = QFontMetrics(self.caption_font()).height() + 4
        margins = self.contentsMargins()
        return QSize(
            columns * thumb.width() + (columns - 1) * SPACING + margins.left() + margins.right(),
            rows * (thumb.height() + caption) + (rows - 1) * SPACING + margins.top() + margins.bottom(),
        )

    def minimumSizeHint(self) -> QSize:
        return QSize(120, 80)

    # -- painting -----------------------------------------------------------------

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        palette = self.palette()
        layout = self.grid_layout()
        if layout is None:
            self._paint_placeholder(painter, palette)
            return
        font = self.caption_font()
        painter.setFont(font)
        metrics = QFontMetrics(font)
        accent, frame = accent_colour(palette), muted_colour(palette)
        text = palette.color(QPalette.ColorRole.WindowText)
        hover = QColor(palette.color(QPalette.ColorRole.Highlight))
        hover.setAlpha(45)
        for index, image in enumerate(self._images):
            cell = self.cell_rect(index, layout)
            if not cell.intersects(event.rect()):
                continue
            if index == self._hovered:
                painter.fillRect(cell.adjusted(-3, -3, 3, 3), hover)
            thumb = self.thumbnail_rect(index, layout)
            marked = self._highlight[index]
            # The frame is a filled border just outside the thumbnail, so it hides no pixel of the sample.
            border = FRAME if marked else 1
            painter.fillRect(thumb.adjusted(-border, -border, border, border), accent if marked else frame)
            # Pixelated (nearest) when enlarging keeps small images crisp; smooth only when shrinking.
            shrinking = thumb.width() < image.width() or thumb.height() < image.height()
            painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, shrinking)
            painter.drawImage(thumb, image)
            spill = (SPACING - 2) // 2
            caption = QRect(cell.left() - spill, thumb.bottom() + 1, cell.width() + 2 * spill, layout.caption_height)
            painter.setPen(accent if marked else text)
            elided = metrics.elidedText(self._captions[index], Qt.TextElideMode.ElideRight, caption.width())
            painter.drawText(caption, Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignVCenter, elided)

    def _paint_placeholder(self, painter: QPainter, palette: QPalette) -> None:
        if not self._placeholder:
            return
        painter.setPen(muted_colour(palette))
        flags = Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap
        painter.drawText(self.contentsRect().adjusted(12, 12, -12, -12), int(flags), self._placeholder)

    # -- interaction --------------------------------------------------------------

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        index = self.index_at(event.position().toPoint())
        if index != self._hovered:
            self._hovered = index
            self.setCursor(Qt.CursorShape.PointingHandCursor if index >= 0 else Qt.CursorShape.ArrowCursor)
            self.update()
        super().mouseMoveEvent(event)

    def leaveEvent(self, event: QEvent) -> None:
        if self._hovered != -1:
            self._hovered = -1
            self.update()
        super().leaveEvent(event)

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            self._pressed = self.index_at(event.position().toPoint())
        super().mousePressEvent(event)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            index = self.index_at(event.position().toPoint())
            pressed, self._pressed = self._pressed, -1
            # A click is press and release on the same thumbnail, as for a button.
            if index >= 0 and index == pressed:
                self.sample_clicked.emit(index)
        super().mouseReleaseEvent(event)

    def event(self, event: QEvent) -> bool:
        if event.type() == QEvent.Type.ToolTip and isinstance(event, QHelpEvent):
            index = self.index_at(event.pos())
            if index >= 0:
                QToolTip.showText(event.globalPos(), self._captions[index], self, self.cell_rect(index))
            else:
                QToolTip.hideText()
                event.ignore()
            return True
        return super().event(event)
