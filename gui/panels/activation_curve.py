"""The curve of an activation function, drawn in the inspector for activation layers.

The points come from :func:`core.analysis.activation_curve.activation_curve`: the
engine's own forward pass, so the plot shows exactly what the layer computes.
"""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QVBoxLayout, QWidget

from core.analysis.activation_curve import X_RANGE, activation_curve
from core.layers.base import Layer
from gui.widgets.plots import chart, style_chart

CURVE_COLOUR = "#1f77b4"
HEIGHT = 170


class ActivationCurve(QWidget):
    """A small plot of ``f(x)`` with the axes through zero.

    Attributes
    ----------
    curve
        The plotted line; ``curve.getData()`` gives the points shown.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.widget, self.plot = chart("x", "f(x)")
        self.widget.setFixedHeight(HEIGHT)
        self.plot.setMouseEnabled(x=False, y=False)
        self.plot.hideButtons()
        palette = self.palette()
        muted = QColor(palette.color(QPalette.ColorRole.Text))
        muted.setAlpha(110)
        for angle in (0, 90):
            axis_pen = pg.mkPen(muted, width=1, style=Qt.PenStyle.DashLine)
            self.plot.addItem(pg.InfiniteLine(pos=0, angle=angle, pen=axis_pen))
        self.curve = self.plot.plot([], [], pen=pg.mkPen(CURVE_COLOUR, width=2.5))
        style_chart(self.widget, palette)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.widget)

    def set_layer(self, layer: Layer) -> bool:
        """Draw ``layer``'s curve and show the widget; hide it for other layer types. Returns whether shown."""
        if not layer.is_activation_function:
            self.hide()
            return False
        x, y = activation_curve(layer)
        self.curve.setData(x, y)
        low, high = float(y.min()), float(y.max())
        margin = 0.08 * max(high - low, 1e-6)
        self.plot.setRange(xRange=X_RANGE, yRange=(low - margin, high + margin), padding=0)
        self.show()
        return True
