"""How a trained network did: a confusion matrix and the samples it got wrong.

Clicking a cell of the matrix shows the samples of that (true, predicted) pair:
mistakes most confident first, correct predictions least confident first (the close
calls). Mistakes the network was at least 90 % sure of are marked in red.
"""

from __future__ import annotations

import html
import math

import numpy as np
from PySide6.QtCore import QEvent, QPoint, QRect, QSize, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QFont,
    QFontMetrics,
    QHelpEvent,
    QMouseEvent,
    QPainter,
    QPaintEvent,
    QPalette,
    QPen,
    QResizeEvent,
)
from PySide6.QtWidgets import (
    QBoxLayout,
    QCheckBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QToolTip,
    QVBoxLayout,
    QWidget,
)

from core.training.metrics import confusion_matrix, misclassified, per_class_accuracy
from gui.widgets.images import unit_range, value_bounds
from gui.widgets.sample_grid import SampleGrid, accent_colour, muted_colour

MAX_SHOWN = 32
"""Samples shown in the grid at once."""
SURE = 0.9
"""Mistakes at least this confident get a red caption."""
CORRECT_COLOUR = "#2f6fd0"
WRONG_COLOUR = "#d6452f"
MAX_NAME_WIDTH = 110
"""Class names longer than this (pixels) are elided on the axes."""
GAP = 4


def _blend(colour: QColor, background: QColor, amount: float) -> QColor:
    """``amount`` of ``colour`` over ``background``."""
    mix = [amount * c + (1 - amount) * b for c, b in zip(colour.getRgbF()[:3], background.getRgbF()[:3])]
    return QColor.fromRgbF(*mix)


def _contrasting(colour: QColor) -> QColor:
    """Black or white, whichever reads better on ``colour`` (by relative luminance)."""
    r, g, b = colour.getRgbF()[:3]
    return QColor("#111111") if 0.2126 * r + 0.7152 * g + 0.0722 * b > 0.5 else QColor("#ffffff")


def row_fractions(matrix: np.ndarray) -> np.ndarray:
    """``(K, K)`` share of each row's samples in each cell; rows without samples are 0."""
    totals = matrix.sum(axis=1, keepdims=True).astype(np.float64)
    return matrix / np.where(totals > 0, totals, 1.0)


def format_percent(value: float) -> str:
    """``0.934`` → ``"93 %"``; one decimal below 10 % so small shares do not all read 0 or 1."""
    percent = 100 * value
    return f"{percent:.1f} %" if 0 < percent < 9.95 else f"{percent:.0f} %"


def format_confidence(value: float) -> str:
    """``0.934`` → ``"93 %"``, rounded down so only certainty reads 100 %."""
    return f"{math.floor(100 * value + 1e-9):.0f} %" if math.isfinite(value) else "? %"


# -- the matrix ---------------------------------------------------------------------


class MatrixGeometry:
    """Where the parts of the matrix go for a widget size, class count and font."""

    def __init__(self, size: QSize, names: list[str], metrics: QFontMetrics) -> None:
        k = max(len(names), 1)
        self.line = metrics.height()
        name_width = min(max((metrics.horizontalAdvance(n) for n in names), default=0), MAX_NAME_WIDTH)
        self.axis_title = self.line + GAP  # the rotated "true" on the left, "predicted" at the bottom
        self.left = self.axis_title + name_width + 2 * GAP
        cell = self._cell(size, k, self.line + GAP)
        # Column names lie flat when they fit under a cell, else they run upwards.
        self.rotated = name_width > cell - 2
        if self.rotated:
            cell = self._cell(size, k, name_width + GAP)
        self.cell = max(cell, 1)
        self.names_height = (name_width if self.rotated else self.line) + GAP
        block = self.left + k * self.cell
        self.origin = QPoint(max((size.width() - block) // 2, 0) + self.left, GAP)
        self.size = k * self.cell
        # Label every step-th class when the names would overlap.
        self.step = max(1, math.ceil(self.line / self.cell))
        self.name_width = name_width

    def _cell(self, size: QSize, k: int, names_height: int) -> int:
        width = size.width() - self.left - GAP
        height = size.height() - GAP - names_height - self.axis_title - GAP
        return int(min(width, height) // k)

    def cell_rect(self, true: int, predicted: int) -> QRect:
        return QRect(self.origin.x() + predicted * self.cell, self.origin.y() + true * self.cell, self.cell, self.cell)

    def cell_at(self, pos: QPoint, k: int) -> tuple[int, int] | None:
        column = (pos.x() - self.origin.x()) // self.cell
        row = (pos.y() - self.origin.y()) // self.cell
        inside = pos.x() >= self.origin.x() and pos.y() >= self.origin.y()
        return (int(row), int(column)) if inside and 0 <= row < k and 0 <= column < k else None

    def row_name_at(self, pos: QPoint, k: int) -> int | None:
        row = (pos.y() - self.origin.y()) // self.cell
        names_left = self.origin.x() - 2 * GAP - self.name_width
        inside = names_left <= pos.x() < self.origin.x() and pos.y() >= self.origin.y()
        return int(row) if inside and 0 <= row < k else None


class MatrixCanvas(QWidget):
    """Paints the K×K heat-map with its axes; :class:`ConfusionMatrixView` wraps it with a title and toggle."""

    cell_clicked = Signal(int, int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.matrix = np.zeros((0, 0), dtype=np.int64)
        self.names: list[str] = []
        self.normalised = False
        self.selected: tuple[int, int] | None = None
        self._hovered: tuple[int, int] | None = None
        self._pressed: tuple[int, int] | None = None
        self.setMouseTracking(True)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    def geometry_for_size(self) -> MatrixGeometry:
        return MatrixGeometry(self.contentsRect().size(), self.names, QFontMetrics(self.font()))

    def cell_rect(self, true: int, predicted: int) -> QRect:
        """Rectangle of cell (``true``, ``predicted``) in this widget's coordinates."""
        return self.geometry_for_size().cell_rect(true, predicted).translated(self.contentsRect().topLeft())

    def cell_at(self, pos: QPoint) -> tuple[int, int] | None:
        """(true, predicted) of the cell under ``pos``, or ``None``."""
        if not len(self.names):
            return None
        return self.geometry_for_size().cell_at(pos - self.contentsRect().topLeft(), len(self.names))

    def sizeHint(self) -> QSize:
        k = max(len(self.names), 2)
        side = max(min(k * 40, 440), 200)
        return QSize(side + 140, side + 80)

    def minimumSizeHint(self) -> QSize:
        return QSize(180, 160)

    # -- painting -----------------------------------------------------------------

    def paintEvent(self, event: QPaintEvent) -> None:
        k = len(self.names)
        if k == 0:
            return
        painter = QPainter(self)
        painter.translate(self.contentsRect().topLeft())
        geometry = self.geometry_for_size()
        self._paint_cells(painter, geometry)
        self._paint_axes(painter, geometry)

    def _cell_text_font(self, geometry: MatrixGeometry) -> QFont | None:
        """The widget font, or a smaller one, that fits the widest cell text; ``None`` when none fits."""
        widest = "100 %" if self.normalised else f"{int(self.matrix.max()):,}"
        font = QFont(self.font())
        for _ in range(3):
            metrics = QFontMetrics(font)
            if metrics.horizontalAdvance(widest) <= geometry.cell - 4 and metrics.height() <= geometry.cell - 2:
                return font
            font.setPointSizeF(font.pointSizeF() * 0.85)
        return None

    def _paint_cells(self, painter: QPainter, geometry: MatrixGeometry) -> None:
        palette = self.palette()
        base = palette.color(QPalette.ColorRole.Base)
        fractions = row_fractions(self.matrix)
        correct, wrong = QColor(CORRECT_COLOUR), QColor(WRONG_COLOUR)
        font = self._cell_text_font(geometry)
        if font is not None:
            painter.setFont(font)
        gap = 1 if geometry.cell >= 6 else 0
        muted = muted_colour(palette)
        k = len(self.names)
        for t in range(k):
            for p in range(k):
                count, share = int(self.matrix[t, p]), float(fractions[t, p])
                # The square root lifts small shares, so a handful of mistakes is still visible.
                amount = 0.0 if count == 0 else max(math.sqrt(share), 0.08)
                colour = _blend(correct if t == p else wrong, base, amount)
                rect = geometry.cell_rect(t, p)
                painter.fillRect(rect.adjusted(0, 0, -gap, -gap), colour)
                if font is None:
                    continue
                text = format_percent(share) if self.normalised else f"{count:,}"
                painter.setPen(muted if count == 0 else _contrasting(colour))
                painter.drawText(rect.adjusted(0, 0, -gap, -gap), Qt.AlignmentFlag.AlignCenter, text)
        text_colour = palette.color(QPalette.ColorRole.WindowText)
        for cell, width in ((self._hovered, 1), (self.selected, 2)):
            if cell is not None and max(cell) < k:
                painter.setPen(QPen(text_colour, width))
                painter.setBrush(Qt.BrushStyle.NoBrush)
                painter.drawRect(geometry.cell_rect(*cell).adjusted(0, 0, -1, -1))

    def _paint_axes(self, painter: QPainter, geometry: MatrixGeometry) -> None:
        palette = self.palette()
        painter.setFont(self.font())
        metrics = QFontMetrics(self.font())
        text, muted = palette.color(QPalette.ColorRole.WindowText), muted_colour(palette)
        k, cell, origin = len(self.names), geometry.cell, geometry.origin
        painter.setPen(text)
        for index in range(0, k, geometry.step):
            name = metrics.elidedText(self.names[index], Qt.TextElideMode.ElideRight, MAX_NAME_WIDTH)
            middle = origin.y() + index * cell + cell // 2
            row = QRect(
                origin.x() - 2 * GAP - geometry.name_width,
                middle - geometry.line // 2,
                geometry.name_width + GAP,
                geometry.line,
            )
            painter.drawText(row, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, name)
            self._paint_column_name(painter, geometry, index, name)
        painter.setPen(muted)
        bold = QFont(self.font())
        bold.setBold(True)
        painter.setFont(bold)
        below = origin.y() + geometry.size + geometry.names_height + GAP
        painter.drawText(
            QRect(origin.x(), below, geometry.size, geometry.line), Qt.AlignmentFlag.AlignCenter, "predicted"
        )
        # "true" runs upwards just left of the row names, centred on the rows.
        painter.save()
        painter.translate(
            origin.x() - 2 * GAP - geometry.name_width - geometry.axis_title, origin.y() + geometry.size / 2
        )
        painter.rotate(-90)
        painter.drawText(
            QRect(-geometry.size // 2, 0, geometry.size, geometry.line), Qt.AlignmentFlag.AlignCenter, "true"
        )
        painter.restore()

    def _paint_column_name(self, painter: QPainter, geometry: MatrixGeometry, index: int, name: str) -> None:
        x = geometry.origin.x() + index * geometry.cell
        top = geometry.origin.y() + geometry.size + GAP // 2
        if not geometry.rotated:
            rect = QRect(x - GAP, top, geometry.cell + 2 * GAP, geometry.line)
            painter.drawText(rect, Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop, name)
            return
        # Upright names read bottom to top and end just under their column.
        painter.save()
        painter.translate(x + geometry.cell / 2, top + geometry.name_width)
        painter.rotate(-90)
        rect = QRect(0, -geometry.line // 2, geometry.name_width, geometry.line)
        painter.drawText(rect, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, name)
        painter.restore()

    # -- interaction --------------------------------------------------------------

    def _tooltip(self, pos: QPoint) -> str:
        cell = self.cell_at(pos)
        if cell is not None:
            t, p = cell
            count, total = int(self.matrix[t, p]), int(self.matrix[t].sum())
            share = format_percent(count / total) if total else "–"
            verdict = "correct" if t == p else "mistakes"
            return (
                f"true: {self.names[t]}\npredicted: {self.names[p]}\n"
                f"{count:,} {verdict} ({share} of the {total:,} samples of {self.names[t]})\nClick to show them"
            )
        geometry = self.geometry_for_size()
        row = geometry.row_name_at(pos - self.contentsRect().topLeft(), len(self.names))
        if row is not None:
            accuracy = per_class_accuracy(self.matrix)[row]
            total = int(self.matrix[row].sum())
            if total == 0:
                return f"{self.names[row]}: no samples"
            correct = int(self.matrix[row, row])
            return f"{self.names[row]}: {format_percent(accuracy)} correct ({correct:,} of {total:,})"
        return ""

    def event(self, event: QEvent) -> bool:
        if event.type() == QEvent.Type.ToolTip and isinstance(event, QHelpEvent):
            text = self._tooltip(event.pos())
            if text:
                QToolTip.showText(event.globalPos(), text, self)
            else:
                QToolTip.hideText()
                event.ignore()
            return True
        return super().event(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        cell = self.cell_at(event.position().toPoint())
        if cell != self._hovered:
            self._hovered = cell
            self.setCursor(Qt.CursorShape.PointingHandCursor if cell else Qt.CursorShape.ArrowCursor)
            self.update()
        super().mouseMoveEvent(event)

    def leaveEvent(self, event: QEvent) -> None:
        self._hovered = None
        self.update()
        super().leaveEvent(event)

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            self._pressed = self.cell_at(event.position().toPoint())
        super().mousePressEvent(event)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            cell = self.cell_at(event.position().toPoint())
            pressed, self._pressed = self._pressed, None
            if cell is not None and cell == pressed:
                self.selected = cell
                self.update()
                self.cell_clicked.emit(*cell)
        super().mouseReleaseEvent(event)


class ConfusionMatrixView(QWidget):
    """A confusion matrix as a heat-map: rows true classes, columns predictions.

    Blue cells are correct predictions, red ones mistakes; the shade is the cell's
    share of its row. Cell texts give counts, or row percentages with "Normalise
    rows" on; when cells are too small for text, tooltips give the figures.

    Signals
    -------
    cell_clicked(int, int)
        ``(true, predicted)`` class indices of a clicked cell.
    """

    cell_clicked = Signal(int, int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.title = QLabel()
        self.title.setTextFormat(Qt.TextFormat.RichText)
        self.title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.normalise_box = QCheckBox("Normalise rows")
        self.normalise_box.setToolTip("Show each cell as a percentage of its row (the samples of that true class)")
        self.normalise_box.toggled.connect(self._set_normalised)
        self.canvas = MatrixCanvas()
        self.canvas.cell_clicked.connect(self.cell_clicked)
        header = QHBoxLayout()
        header.addWidget(self.title, 1)
        header.addWidget(self.normalise_box)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(header)
        layout.addWidget(self.canvas, 1)
        self.clear()

    def set_matrix(self, matrix: np.ndarray, class_names: list[str]) -> None:
        """Show ``matrix``.

        Parameters
        ----------
        matrix
            ``(K, K)`` non-negative counts, ``matrix[t, p]`` samples of class ``t``
            predicted as ``p`` (see :func:`core.training.metrics.confusion_matrix`).
        class_names
            ``K`` names, for both axes.
        """
        matrix = np.asarray(matrix)
        if matrix.ndim != 2 or matrix.shape != (len(class_names), len(class_names)):
            raise ValueError(
                f"a matrix for {len(class_names)} classes must be ({len(class_names)}, "
                f"{len(class_names)}), got {matrix.shape}"
            )
        self.canvas.matrix = matrix.astype(np.int64)
        self.canvas.names = [str(n) for n in class_names]
        self.canvas.selected = None
        total, correct = int(matrix.sum()), int(np.trace(matrix))
        if total:
            self.title.setText(f"Accuracy <b>{format_percent(correct / total)}</b> ({correct:,} of {total:,})")
        else:
            self.title.setText("No samples")
        self.canvas.updateGeometry()
        self.canvas.update()

    def clear(self) -> None:
        """Show nothing."""
        self.canvas.matrix = np.zeros((0, 0), dtype=np.int64)
        self.canvas.names = []
        self.canvas.selected = None
        self.title.setText("")
        self.canvas.update()

    def matrix(self) -> np.ndarray:
        """The ``(K, K)`` counts shown."""
        return self.canvas.matrix.copy()

    def is_normalised(self) -> bool:
        return self.normalise_box.isChecked()

    def set_normalised(self, on: bool) -> None:
        self.normalise_box.setChecked(on)

    def _set_normalised(self, on: bool) -> None:
        self.canvas.normalised = on
        self.canvas.update()

    def selected_cell(self) -> tuple[int, int] | None:
        """The last clicked ``(true, predicted)`` cell, outlined; ``None`` after :meth:`set_selected_cell(None)`."""
        return self.canvas.selected

    def set_selected_cell(self, cell: tuple[int, int] | None) -> None:
        self.canvas.selected = cell
        self.canvas.update()

    def cell_rect(self, true: int, predicted: int) -> QRect:
        """Rectangle of a cell in :attr:`canvas` coordinates (click the canvas there to pick the cell)."""
        return self.canvas.cell_rect(true, predicted)


# -- results ------------------------------------------------------------------------


class RunResultsWidget(QWidget):
    """The confusion matrix of a run beside (or, when narrow, above) the samples it got wrong.

    Signals
    -------
    sample_clicked(int)
        Index into the ``x`` given to :meth:`set_results` of a clicked thumbnail.
    """

    sample_clicked = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.heading = QLabel()
        self.heading.setTextFormat(Qt.TextFormat.PlainText)
        heading_font = self.heading.font()
        heading_font.setPointSizeF(heading_font.pointSizeF() * 1.15)
        heading_font.setBold(True)
        self.heading.setFont(heading_font)
        self.matrix_view = ConfusionMatrixView()
        self.matrix_view.cell_clicked.connect(self.show_cell)
        self.samples_label = QLabel()
        self.samples_label.setWordWrap(True)
        self.samples_label.setTextFormat(Qt.TextFormat.RichText)
        self.show_all_button = QPushButton("Show all mistakes")
        self.show_all_button.clicked.connect(self.show_all_mistakes)
        self.grid = SampleGrid()
        self.grid.sample_clicked.connect(self._grid_clicked)
        samples_header = QHBoxLayout()
        samples_header.addWidget(self.samples_label, 1)
        samples_header.addWidget(self.show_all_button, 0, Qt.AlignmentFlag.AlignTop)
        samples = QVBoxLayout()
        samples.setContentsMargins(0, 0, 0, 0)
        samples.addLayout(samples_header)
        samples.addWidget(self.grid, 1)
        samples.addStretch(0)  # keeps the sentence at the top when the grid is hidden (feature vectors)
        self.body = QBoxLayout(QBoxLayout.Direction.LeftToRight)
        self.body.setSpacing(16)
        self.body.addWidget(self.matrix_view, 1)
        self.body.addLayout(samples, 1)
        layout = QVBoxLayout(self)
        layout.addWidget(self.heading)
        layout.addLayout(self.body, 1)
        self._x = np.zeros((0, 0), dtype=np.float32)
        self._bounds: tuple[float, float] | None = None
        self._y_true = self._y_pred = np.zeros(0, dtype=np.int64)
        self._confidence = np.zeros(0)
        self._names: list[str] = []
        self._shown = np.zeros(0, dtype=np.int64)
        self._filter: tuple[int, int] | None = None
        self.clear()

    # -- public -------------------------------------------------------------------

    def set_results(
        self,
        x: np.ndarray,
        y_true: np.ndarray,
        y_pred: np.ndarray,
        confidence: np.ndarray,
        class_names: list[str],
        title: str = "",
    ) -> None:
        """Show the results of evaluating a network on ``x``.

        Parameters
        ----------
        x
            ``(N, C, H, W)`` images (shown as thumbnails) or ``(N, F)`` vectors (only counted).
        y_true, y_pred
            ``(N,)`` true and predicted class indices in ``0 .. K-1``.
        confidence
            ``(N,)`` probability the network gave its prediction, in ``[0, 1]``.
        class_names
            ``K`` names.
        title
            Heading above the matrix, e.g. ``"Validation, epoch 12"``.

        Raises
        ------
        ValueError
            When the arrays disagree in length or labels lie outside ``0 .. K-1``.
        """
        x = np.asarray(x)
        confidence = np.asarray(confidence, dtype=np.float64)
        if x.ndim not in (2, 4):
            raise ValueError(f"x must be (N, C, H, W) images or (N, F) vectors, got shape {x.shape}")
        if confidence.shape != (len(x),):
            raise ValueError(f"confidence must have shape ({len(x)},), got {confidence.shape}")
        matrix = confusion_matrix(y_true, y_pred, len(class_names))
        if matrix.sum() != len(x):
            raise ValueError(f"x holds {len(x)} samples but the labels {int(matrix.sum())}")
        self._x = x
        # Data stored outside [0, 1] is shown scaled from the range of the whole set, so thumbnails compare.
        self._bounds = value_bounds(x) if x.ndim == 4 else None
        self._y_true = np.asarray(y_true).astype(np.int64)
        self._y_pred = np.asarray(y_pred).astype(np.int64)
        self._confidence = confidence
        self._names = [str(n) for n in class_names]
        self.heading.setText(title)
        self.heading.setVisible(bool(title))
        self.matrix_view.set_matrix(matrix, self._names)
        self.show_all_mistakes()

    def clear(self) -> None:
        """Show nothing."""
        self._x = np.zeros((0, 0), dtype=np.float32)
        self._names = []
        self._shown = np.zeros(0, dtype=np.int64)
        self._filter = None
        self.heading.hide()
        self.matrix_view.clear()
        self.grid.clear()
        self.grid.set_placeholder("No results yet")
        self.samples_label.setText("")
        self.show_all_button.hide()

    def current_filter(self) -> tuple[int, int] | None:
        """The ``(true, predicted)`` pair the grid shows, or ``None`` for all mistakes."""
        return self._filter

    def shown_indices(self) -> np.ndarray:
        """``(M,)`` indices into ``x`` of the samples in the grid, in grid order."""
        return self._shown.copy()

    def show_all_mistakes(self) -> None:
        """Show the most confident mistakes of every class pair."""
        self._filter = None
        self.matrix_view.set_selected_cell(None)
        self.show_all_button.hide()
        if not self._names:
            return
        wrong = misclassified(self._y_true, self._y_pred, self._confidence)
        total = len(self._y_true)
        if len(wrong) == 0:
            text = f"No mistakes: all {total:,} samples are classified correctly."
        elif self._x.ndim == 4:
            shown = min(len(wrong), MAX_SHOWN)
            text = f"<b>Most confident mistakes</b>: {shown} of {len(wrong):,}"
            if (self._confidence[wrong[:shown]] >= SURE).any():
                red = accent_colour(self.palette()).name()
                text += f" &nbsp;·&nbsp; <span style='color:{red}'>red</span>: {100 * SURE:.0f}&nbsp;% sure or more"
        else:
            text = f"{len(wrong):,} of {total:,} samples are misclassified ({format_percent(len(wrong) / total)})."
        self._show(wrong, text, "No mistakes")

    def show_cell(self, true: int, predicted: int) -> None:
        """Show the samples of class ``true`` predicted as ``predicted``."""
        if not (0 <= true < len(self._names) and 0 <= predicted < len(self._names)):
            return
        self._filter = (true, predicted)
        self.matrix_view.set_selected_cell(self._filter)
        self.show_all_button.show()
        members = np.flatnonzero((self._y_true == true) & (self._y_pred == predicted))
        # Mistakes: the most confident first; correct predictions: the least confident (the close calls) first.
        order = np.argsort(
            -self._confidence[members] if true != predicted else self._confidence[members], kind="stable"
        )
        members = members[order]
        true_name, predicted_name = html.escape(self._names[true]), html.escape(self._names[predicted])
        pair = f"true <b>{true_name}</b> → predicted <b>{predicted_name}</b>"
        which = "most confident first" if true != predicted else "least confident first"
        noun = "sample" if len(members) == 1 else "samples"
        if self._x.ndim == 4 and len(members) > MAX_SHOWN:
            text = f"{pair}: {len(members):,} {noun}, the {MAX_SHOWN} {which}"
        elif self._x.ndim == 4 and len(members) > 1:
            text = f"{pair}: {len(members):,} {noun}, {which}"
        else:
            text = f"{pair}: {len(members):,} {noun}"
        self._show(members, text, "No samples in this cell")

    # -- helpers ------------------------------------------------------------------

    def _show(self, indices: np.ndarray, text: str, empty: str) -> None:
        self.samples_label.setText(text)
        if self._x.ndim != 4:
            # Feature vectors have no picture; the sentence above says it all.
            self._shown = np.zeros(0, dtype=np.int64)
            self.grid.clear()
            self.grid.set_placeholder("Feature vectors have no thumbnails.")
            self.grid.setVisible(False)
            return
        self.grid.setVisible(True)
        self._shown = indices[:MAX_SHOWN].astype(np.int64)
        self.grid.set_placeholder(empty)
        if len(self._shown) == 0:
            self.grid.clear()
            return
        x = self._x[self._shown]
        if self._bounds is not None:
            x = unit_range(x, *self._bounds)
        captions, marked = [], []
        for i in self._shown:
            t, p, c = int(self._y_true[i]), int(self._y_pred[i]), float(self._confidence[i])
            captions.append(f"{self._names[t]} → {self._names[p]} ({format_confidence(c)})")
            marked.append(t != p and c >= SURE)
        self.grid.set_samples(x, captions, highlight=marked)

    def _grid_clicked(self, index: int) -> None:
        if 0 <= index < len(self._shown):
            self.sample_clicked.emit(int(self._shown[index]))

    def resizeEvent(self, event: QResizeEvent) -> None:
        # Side by side when wide, stacked when tall (a narrow dock).
        wide = event.size().width() >= 1.25 * event.size().height()
        direction = QBoxLayout.Direction.LeftToRight if wide else QBoxLayout.Direction.TopToBottom
        if self.body.direction() != direction:
            self.body.setDirection(direction)
        super().resizeEvent(event)
