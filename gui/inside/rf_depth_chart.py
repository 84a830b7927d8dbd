"""How fast the receptive field grows with depth, for the whole network.

Depth counts windowed layers (:func:`core.analysis.unit_field.receptive_field_by_depth`);
the input size is drawn as a horizontal line, so one sees at which depth a unit can
first see the whole image.
"""

from __future__ import annotations

import html

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from core.analysis.unit_field import DepthPoint, receptive_field_by_depth
from core.errors import LayerwiseError
from core.graph.document import NetworkDocument
from core.graph.validation import check_graph
from gui.widgets.plots import chart, style_chart

HEIGHT_COLOUR = "#4c78a8"
WIDTH_COLOUR = "#f58518"
CHOSEN_COLOUR = "#e8710a"
INPUT_COLOUR = "#7f7f7f"
MAX_LABELS = 28
"""Layer names are written beside the points up to this many points."""


class RfDepthChart(QWidget):
    """Receptive field size (pixels) against depth, one point per windowed layer.

    Attributes
    ----------
    points
        The :class:`DepthPoint` drawn, in order.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.points: list[DepthPoint] = []
        self.input_hw = (1, 1)
        self.chosen: str | None = None
        self.widget, self.plot = chart("depth (windowed layers from the input)", "receptive field (px)")
        self.plot.addLegend(offset=(10, 10), labelTextSize="9pt")
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.summary.setTextFormat(Qt.TextFormat.RichText)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.summary)
        layout.addWidget(self.widget, 1)
        style_chart(self.widget, self.palette())

    def set_document(self, document: NetworkDocument | None, chosen: str | None = None) -> None:
        """Draw the chart of ``document``, marking the layer named ``chosen``."""
        self.chosen = chosen
        try:
            self.points = receptive_field_by_depth(document) if document is not None else []
            self.input_hw = _input_hw(document) if self.points else (1, 1)
        except LayerwiseError as exc:
            self.points = []
            self._draw(f"No chart: {exc}")
            return
        except Exception as exc:  # noqa: BLE001 — never raised into Qt
            self.points = []
            self._draw(f"No chart: {type(exc).__name__}: {exc}")
            return
        self._draw("")

    def _draw(self, problem: str) -> None:
        self.plot.clear()
        if self.plot.legend is not None:
            self.plot.legend.clear()
        points = self.points
        if problem or not points:
            fallback = "No receptive fields: the network's input is not an image, or it does not compute."
            self.summary.setText(html.escape(problem) or fallback)
            return
        depth = np.array([p.depth for p in points], dtype=np.float64)
        heights = np.array([p.size_h for p in points], dtype=np.float64)
        widths = np.array([p.size_w for p in points], dtype=np.float64)
        square = bool(np.all(heights == widths))
        series = [("field size" if square else "field height", heights, HEIGHT_COLOUR)]
        if not square:
            series.append(("field width", widths, WIDTH_COLOUR))
        names = [p.name for p in points]
        for title, values, colour in series:
            self.plot.plot(depth, values, pen=pg.mkPen(colour, width=2.2), name=title)
            scatter = pg.ScatterPlotItem(
                depth,
                values,
                data=names,
                size=9,
                brush=pg.mkBrush(colour),
                pen=pg.mkPen("white", width=1),
                hoverable=True,
                hoverSize=13,
                tip=lambda x, y, data: f"{data}\ndepth {x:g} · field {y:g} px",
            )
            self.plot.addItem(scatter)
        # The input image itself, for scale.
        input_h, input_w = self.input_hw
        size = max(input_h, input_w)
        line = pg.InfiniteLine(
            pos=size,
            angle=0,
            pen=pg.mkPen(INPUT_COLOUR, width=1.5, style=Qt.PenStyle.DashLine),
            label=f"input {input_h}×{input_w} px",
            labelOpts={"position": 0.93, "color": INPUT_COLOUR, "anchors": [(1, 1), (1, 1)]},
        )
        self.plot.addItem(line)
        self._label_points(depth, heights, names)
        self.plot.setYRange(0, max(float(heights.max()), float(widths.max()), size) * 1.08, padding=0)
        self.plot.setXRange(-0.3, float(depth.max()) + 0.8, padding=0)
        step = max(1, int(np.ceil(depth.max() / 16)))  # depths are whole numbers
        self.plot.getAxis("bottom").setTickSpacing(major=step, minor=step)
        last = points[-1]
        covered = next((p for p in points if p.size_h >= input_h and p.size_w >= input_w), None)
        text = (
            f"The deepest field, at <b>{html.escape(last.name)}</b> (depth {last.depth}), is "
            f"<b>{last.size_h}×{last.size_w} px</b> on a {input_h}×{input_w} input. "
        )
        text += (
            f"Fields first span the whole input at <b>{html.escape(covered.name)}</b> (depth {covered.depth})."
            if covered is not None and covered.depth > 0
            else "No unit sees the whole input."
        )
        self.summary.setText(text)

    def _label_points(self, depth: np.ndarray, sizes: np.ndarray, names: list[str]) -> None:
        if len(names) > MAX_LABELS:
            return
        palette = self.palette()
        text_colour = palette.color(QPalette.ColorRole.Text)
        for x, y, name in zip(depth, sizes, names):
            chosen = name == self.chosen
            colour = QColor(CHOSEN_COLOUR) if chosen else text_colour
            label = pg.TextItem(name, color=colour, anchor=(-0.3, 1.2) if chosen else (-0.08, 1.05))
            label.setPos(float(x), float(y))
            if chosen:
                font = label.textItem.font()
                font.setBold(True)
                label.setFont(font)
            self.plot.addItem(label)
        if self.chosen in names:
            index = names.index(self.chosen)
            ring = pg.ScatterPlotItem(
                [depth[index]], [sizes[index]], size=18, brush=None, pen=pg.mkPen(CHOSEN_COLOUR, width=2.5)
            )
            self.plot.addItem(ring)


def _input_hw(document: NetworkDocument) -> tuple[int, int]:
    """``(H, W)`` of the network's image input (the Input's own point has a 1×1 field, not the image size)."""
    check = check_graph(document)
    shape = next(check.shapes[n.id] for n in check.order if n.layer.max_inputs == 0)
    return (int(shape[1]), int(shape[2]))  # type: ignore[index]
