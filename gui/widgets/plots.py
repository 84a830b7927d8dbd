"""Charts as the whole app draws them (pyqtgraph), coloured from the window's palette."""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QGraphicsItem

AXES = ("left", "bottom")
"""The axes the app's charts show."""


def cache_static_parts(plot: pg.PlotItem) -> None:
    """Draw axes and title from cached pixmaps.

    pyqtgraph replays each axis's text on every frame, about 3.5 ms per axis; a cached
    pixmap is redrawn only when the axis itself changes (see ``bench/ui_latency.py``).
    """
    for item in (*(plot.getAxis(name) for name in AXES), plot.titleLabel):
        item.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)


def chart(bottom: str, left: str, title: str | None = None, grid: bool = True) -> tuple[pg.PlotWidget, pg.PlotItem]:
    """A plot widget with axis labels, an optional title and light grid, no context menu.

    Its colours come from :func:`style_chart`, called once the chart has its legend.
    """
    widget = pg.PlotWidget()
    plot: pg.PlotItem = widget.getPlotItem()
    plot.setMenuEnabled(False)
    if grid:
        plot.showGrid(x=True, y=True, alpha=0.15)
    plot.setLabel("bottom", bottom)
    plot.setLabel("left", left)
    if title is not None:
        plot.setTitle(title)
    cache_static_parts(plot)
    return widget, plot


def style_axis(axis: pg.AxisItem, palette: QPalette, line: QColor | None = None) -> None:
    """Tick labels and axis label in the palette's Text colour; the axis line in ``line`` (by default the same)."""
    text = palette.color(QPalette.ColorRole.Text)
    axis.setPen(line if line is not None else text)
    axis.setTextPen(text)  # after setPen: both set the axis label's colour, the text's must win


def style_chart(
    widget: pg.PlotWidget, palette: QPalette, *, axis_line: QColor | None = None, legend_alpha: int | None = None
) -> None:
    """Colour ``widget`` from ``palette``, light or dark, as every chart of the app is.

    The background takes the Base colour; tick labels, axis labels, the title (if
    shown) and the legend's text take the Text colour.

    Parameters
    ----------
    widget
        The chart; call again when the palette changes.
    palette
        Usually the palette of the widget that holds the chart.
    axis_line
        Colour of the axis lines; the Text colour by default.
    legend_alpha
        Fill the legend with the Base colour at this opacity (0–255), so its text stays
        readable over the curves; without, the legend's fill is left as it is.
    """
    background = palette.color(QPalette.ColorRole.Base)
    text = palette.color(QPalette.ColorRole.Text)
    widget.setBackground(background)
    plot: pg.PlotItem = widget.getPlotItem()
    for name in AXES:
        style_axis(plot.getAxis(name), palette, axis_line)
    if plot.titleLabel.isVisible():
        plot.titleLabel.setAttr("color", text.name())
        plot.setTitle(plot.titleLabel.text)  # the colour applies when the text is set again
    if plot.legend is not None:
        plot.legend.setLabelTextColor(text)
        if legend_alpha is not None:
            fill = QColor(background)
            fill.setAlpha(legend_alpha)
            plot.legend.setBrush(pg.mkBrush(fill))
