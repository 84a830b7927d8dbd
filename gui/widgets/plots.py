"""Charts as the whole app draws them (pyqtgraph)."""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtWidgets import QGraphicsItem


def cache_static_parts(plot: pg.PlotItem) -> None:
    """Draw axes and title from cached pixmaps.

    pyqtgraph replays each axis's text on every frame, about 3.5 ms per axis; a cached
    pixmap is redrawn only when the axis itself changes (see ``bench/ui_latency.py``).
    """
    for item in (plot.getAxis("left"), plot.getAxis("bottom"), plot.titleLabel):
        item.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)


def chart(bottom: str, left: str, title: str | None = None, grid: bool = True) -> tuple[pg.PlotWidget, pg.PlotItem]:
    """A plot widget with axis labels, an optional title and light grid, no context menu."""
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
