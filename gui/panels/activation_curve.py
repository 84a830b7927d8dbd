"""The curve of an activation function, drawn in the inspector for activation layers.

The curve is computed by the engine itself — a two-layer network ``Input → activation``
run forward on a range of inputs — so it is exactly the function the layer applies,
with its current ``alpha``.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QVBoxLayout, QWidget

from core.engine.model import Model
from core.graph.document import NetworkDocument
from core.layers.base import Layer

X_RANGE = (-4.0, 4.0)
POINTS = 401
CURVE_COLOUR = "#1f77b4"
HEIGHT = 170


@lru_cache(maxsize=32)
def _curve(type_name: str, params: tuple[tuple[str, object], ...]) -> tuple[np.ndarray, np.ndarray]:
    document = NetworkDocument("activation curve")
    source = document.add_node("Input", {"shape": [POINTS]}, name="x")
    document.chain(source.id, [(type_name, dict(params), "f")])
    x = np.linspace(*X_RANGE, POINTS)
    y = Model(document, dtype=np.float64).forward(x[None])[0]
    x.setflags(write=False)
    y.setflags(write=False)
    return x, y


def activation_curve(layer: Layer) -> tuple[np.ndarray, np.ndarray]:
    """``(x, f(x))`` of an activation layer on :data:`X_RANGE`, each ``(POINTS,)``, from the engine's forward pass.

    Raises
    ------
    ValueError
        When ``layer`` is not an elementwise activation function.
    """
    if not layer.is_activation_function:
        raise ValueError(f"{layer.type_name} has no curve to draw")
    return _curve(layer.type_name, tuple(sorted(layer.get_config().items())))


class ActivationCurve(QWidget):
    """A small plot of ``f(x)`` with the axes through zero.

    Attributes
    ----------
    curve
        The plotted line; ``curve.getData()`` gives the points shown.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.widget = pg.PlotWidget()
        self.widget.setFixedHeight(HEIGHT)
        self.plot: pg.PlotItem = self.widget.getPlotItem()
        self.plot.setMenuEnabled(False)
        self.plot.setMouseEnabled(x=False, y=False)
        self.plot.hideButtons()
        self.plot.showGrid(x=True, y=True, alpha=0.15)
        self.plot.setLabel("bottom", "x")
        self.plot.setLabel("left", "f(x)")
        palette = self.palette()
        muted = QColor(palette.color(QPalette.ColorRole.Text))
        muted.setAlpha(110)
        for angle in (0, 90):
            axis_pen = pg.mkPen(muted, width=1, style=Qt.PenStyle.DashLine)
            self.plot.addItem(pg.InfiniteLine(pos=0, angle=angle, pen=axis_pen))
        self.curve = self.plot.plot([], [], pen=pg.mkPen(CURVE_COLOUR, width=2.5))
        self.widget.setBackground(palette.color(QPalette.ColorRole.Base))
        for axis in ("left", "bottom"):
            self.plot.getAxis(axis).setPen(palette.color(QPalette.ColorRole.Text))
            self.plot.getAxis(axis).setTextPen(palette.color(QPalette.ColorRole.Text))
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
