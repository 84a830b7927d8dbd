"""Live loss and accuracy curves of the current run, with earlier runs faded behind.

Curves are created once and updated with ``setData`` when :meth:`TrainingPlots.refresh`
is called (by a timer, a few times a second), never once per batch.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QGraphicsItem, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from core.training.history import Marker, RunHistory
from gui.widgets.plots import chart, style_chart

TRAIN_COLOUR = "#1f77b4"
VAL_COLOUR = "#e8710a"
PENALTY_COLOUR = "#7b4fb8"
BATCH_COLOUR = "#8fb8de"
RATE_COLOUR = "#6b7280"
MARKER_COLOURS = {"setting": "#6b7280", "best": "#1a9850", "stopped": "#d73027"}
OVERFIT_BRUSH = (215, 48, 39, 38)
RUN_HUES = ("#4c78a8", "#f58518", "#54a24b", "#b279a2", "#9d755d", "#e45756", "#72b7b2", "#eeca3b")
FADED_ALPHA = 110
LEGEND_ALPHA = 200
"""Opacity of the legends' background: curves behind them show through, faintly."""


def _faded(colour: str) -> QColor:
    faded = QColor(colour)
    faded.setAlpha(FADED_ALPHA)
    return faded


def _finite(
    x: list[float] | np.ndarray, y: list[float] | np.ndarray, positive: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Drop points whose y is NaN (epochs without validation) or, on a log axis, not positive."""
    xs, ys = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    keep = np.isfinite(ys) & (ys > 0) if positive else np.isfinite(ys)
    return xs[keep], ys[keep]


class _RunCurves:
    """The curves of one run in both plots."""

    def __init__(self, loss: pg.PlotItem, accuracy: pg.PlotItem, current: bool, hue: str) -> None:
        self.current = current
        self.items: list[tuple[pg.PlotItem, pg.GraphicsObject]] = []
        self.markers_drawn = 0
        self.spans_drawn: list[tuple[float, float]] = []
        self.decorations: list[tuple[pg.PlotItem, pg.GraphicsObject]] = []
        if current:
            smoothed = pg.mkPen(BATCH_COLOUR, width=1)
            self.batch = self._add(loss, pg.PlotDataItem(pen=smoothed, name="training loss (per batch, smoothed)"))
        self.train_loss = self._add(loss, self._curve(TRAIN_COLOUR, hue, "training loss"))
        self.val_loss = self._add(loss, self._curve(VAL_COLOUR, hue, "validation loss", dashed=True))
        if current:
            dotted = pg.mkPen(PENALTY_COLOUR, width=1.5, style=Qt.PenStyle.DotLine)
            self.penalty = self._add(loss, pg.PlotDataItem(pen=dotted, name="L1/L2 penalty"))
        self.train_acc = self._add(accuracy, self._curve(TRAIN_COLOUR, hue, "training accuracy"))
        self.val_acc = self._add(accuracy, self._curve(VAL_COLOUR, hue, "validation accuracy", dashed=True))

    def _curve(self, colour: str, hue: str, name: str, dashed: bool = False) -> pg.PlotDataItem:
        """The current run in full colour with dots and a legend entry; earlier runs faded, in their hue."""
        if self.current:
            return pg.PlotDataItem(
                pen=pg.mkPen(colour, width=2.2), symbol="o", symbolSize=5, symbolBrush=colour, symbolPen=None, name=name
            )
        style = Qt.PenStyle.DashLine if dashed else Qt.PenStyle.SolidLine
        return pg.PlotDataItem(pen=pg.mkPen(_faded(hue), width=1.4, style=style))

    def _add(self, plot: pg.PlotItem, item: pg.PlotDataItem) -> pg.PlotDataItem:
        plot.addItem(item)
        self.items.append((plot, item))
        return item

    def update(self, run: RunHistory) -> None:
        epochs = run.epochs
        self.train_loss.setData(
            *_finite(epochs, run.train_data_loss if self.current else run.train_loss, positive=True)
        )
        self.val_loss.setData(*_finite(epochs, run.val_loss, positive=True))
        self.train_acc.setData(*_finite(epochs, run.train_accuracy))
        self.val_acc.setData(*_finite(epochs, run.val_accuracy))
        if self.current:
            self.batch.setData(*_finite(run.batch_x, run.smoothed_batch_loss(), positive=True))
            self.penalty.setData(*_finite(epochs, run.train_penalty, positive=True))

    def remove(self) -> None:
        for plot, item in self.items + self.decorations:
            plot.removeItem(item)
        self.items.clear()
        self.decorations.clear()


class TrainingPlots(QWidget):
    """Loss (left) and accuracy (right) against epochs.

    The current run is drawn in full colour with its per-batch loss, penalty,
    markers and shaded overfitting; earlier visible runs appear as faded curves.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.loss_widget, self.loss_plot = chart("epoch", "loss", "Loss")
        self.accuracy_widget, self.accuracy_plot = chart("epoch", "accuracy", "Accuracy")
        for plot in (self.loss_plot, self.accuracy_plot):
            plot.addLegend(labelTextSize="8pt").setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        # Log scale: late epochs, where overfitting shows, are not squeezed against the axis.
        self.loss_plot.setLogMode(y=True)
        self.loss_plot.setLabel("left", "loss (log scale)")
        self.accuracy_plot.setYRange(0, 1, padding=0.02)
        # Losses fall and accuracy rises: the lower left and lower right corners are where
        # the legends hide the least; marker labels run down from the top.
        self.loss_plot.legend.anchor((0, 1), (0, 1), offset=(8, -8))
        self.accuracy_plot.legend.anchor((1, 1), (1, 1), offset=(-8, -8))
        self._add_rate_axis()
        self.caption = QLabel()
        self.caption.setWordWrap(True)
        self.caption.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        plots = QHBoxLayout()
        plots.setContentsMargins(0, 0, 0, 0)
        plots.setSpacing(6)
        plots.addWidget(self.loss_widget)
        plots.addWidget(self.accuracy_widget)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addLayout(plots, 1)
        layout.addWidget(self.caption)
        self._curves: dict[int, _RunCurves] = {}
        self._current: RunHistory | None = None
        self.refresh_count = 0
        self.apply_palette()

    def _add_rate_axis(self) -> None:
        """The current run's learning rate on the accuracy plot's right axis, shown while it changes."""
        plot = self.accuracy_plot
        self.rate_view = pg.ViewBox(enableMenu=False)
        self.rate_view.setMouseEnabled(x=False, y=False)
        plot.scene().addItem(self.rate_view)
        axis = plot.getAxis("right")
        axis.linkToView(self.rate_view)
        axis.setLabel("learning rate")
        axis.enableAutoSIPrefix(False)
        self.rate_view.setXLink(plot)
        self.rate_curve = pg.PlotDataItem(
            pen=pg.mkPen(RATE_COLOUR, width=1.5, style=Qt.PenStyle.DashDotLine), stepMode="right"
        )
        self.rate_view.addItem(self.rate_curve)
        plot.vb.sigResized.connect(lambda: self.rate_view.setGeometry(plot.vb.sceneBoundingRect()))
        self._show_rate(None)

    def _show_rate(self, run: RunHistory | None) -> None:
        rates = np.asarray(run.learning_rate if run is not None else [], dtype=np.float64)
        varying = rates.size > 1 and bool(np.ptp(rates) > 0)
        self.accuracy_plot.showAxis("right", varying)
        self.rate_curve.setVisible(varying)
        legend = self.accuracy_plot.legend
        listed = any(sample.item is self.rate_curve for sample, _label in legend.items)
        if varying and not listed:
            legend.addItem(self.rate_curve, "learning rate (right axis)")
        elif listed and not varying:
            legend.removeItem(self.rate_curve)
        if varying:
            self.rate_curve.setData(np.asarray(run.epochs, dtype=np.float64), rates)
            self.rate_view.setYRange(0, float(rates.max()) * 1.05, padding=0)
        else:
            self.rate_curve.setData([], [])

    # -- appearance ---------------------------------------------------------------

    def apply_palette(self) -> None:
        """Follow the window's light or dark palette."""
        for widget in (self.loss_widget, self.accuracy_widget):
            style_chart(widget, self.palette(), legend_alpha=LEGEND_ALPHA)

    # -- runs -------------------------------------------------------------------------

    def set_runs(self, runs: list[RunHistory], current: RunHistory | None) -> None:
        """Show ``current`` in full and the other visible ``runs`` faded."""
        wanted = {id(run): run for run in runs if run.visible or run is current}
        for key in list(self._curves):
            if key not in wanted or self._curves[key].current != (wanted[key] is current):
                self._curves.pop(key).remove()
        for index, run in enumerate(runs):
            key = id(run)
            if key in wanted and key not in self._curves:
                hue = RUN_HUES[index % len(RUN_HUES)]
                self._curves[key] = _RunCurves(self.loss_plot, self.accuracy_plot, run is current, hue)
                self._curves[key].update(run)
        self._current = current
        self._show_rate(current)
        self._redraw_decorations()

    def refresh(self) -> None:
        """Redraw the current run's curves from its history (call from a timer)."""
        run = self._current
        if run is None or id(run) not in self._curves:
            return
        curves = self._curves[id(run)]
        curves.update(run)
        self._show_rate(run)
        self._draw_new_markers(curves, run)
        spans = run.overfitting_spans()
        if spans != curves.spans_drawn:
            self._redraw_decorations()
        self.refresh_count += 1

    def refresh_run(self, run: RunHistory) -> None:
        """Redraw the curves of ``run``, current or faded (a run that grows while another is current)."""
        if run is self._current:
            self.refresh()
        elif id(run) in self._curves:
            self._curves[id(run)].update(run)

    def _redraw_decorations(self) -> None:
        run = self._current
        for curves in self._curves.values():
            for plot, item in curves.decorations:
                plot.removeItem(item)
            curves.decorations.clear()
            curves.markers_drawn = 0
            curves.spans_drawn = []
        if run is None or id(run) not in self._curves:
            self._update_caption(None)
            return
        curves = self._curves[id(run)]
        curves.spans_drawn = run.overfitting_spans()
        for start, end in curves.spans_drawn:
            for plot in (self.loss_plot, self.accuracy_plot):
                region = pg.LinearRegionItem(
                    (start, end), movable=False, brush=pg.mkBrush(*OVERFIT_BRUSH), pen=pg.mkPen(None)
                )
                region.setZValue(-10)
                region.setToolTip("overfitting: validation loss rising while training loss falls")
                plot.addItem(region)
                curves.decorations.append((plot, region))
        self._draw_new_markers(curves, run)

    def _draw_new_markers(self, curves: _RunCurves, run: RunHistory) -> None:
        for marker in run.markers[curves.markers_drawn :]:
            for plot in (self.loss_plot, self.accuracy_plot):
                line = self._marker_line(marker)
                plot.addItem(line)
                curves.decorations.append((plot, line))
        curves.markers_drawn = len(run.markers)
        self._update_caption(run)

    def _marker_line(self, marker: Marker) -> pg.InfiniteLine:
        colour = MARKER_COLOURS.get(marker.kind, MARKER_COLOURS["setting"])
        style = Qt.PenStyle.DashLine if marker.kind == "setting" else Qt.PenStyle.SolidLine
        background = self.palette().color(QPalette.ColorRole.Base)
        # The label runs along the line, so markers close together do not cover each other; the
        # best epoch's sits lower, as it often falls next to a live change or the stop.
        line = pg.InfiniteLine(
            pos=marker.x,
            angle=90,
            movable=False,
            pen=pg.mkPen(colour, width=1.5, style=style),
            label=marker.text,
            labelOpts={
                "position": 0.62 if marker.kind == "best" else 0.97,
                "color": colour,
                "rotateAxis": (1, 0),
                "anchors": [(1, 0), (1, 0)],
                "fill": pg.mkBrush(background.red(), background.green(), background.blue(), 190),
            },
        )
        line.full_label = marker.label
        line.setToolTip(marker.label)
        line.setZValue(5)
        return line

    def _update_caption(self, run: RunHistory | None) -> None:
        """Spell out the early-stopping markers and the shading under the plots."""
        parts = [m.label for m in run.markers if m.kind in ("best", "stopped")] if run is not None else []
        if run is not None and run.overfitting_spans():
            parts.append("shaded: validation loss rising while training loss falls (overfitting)")
        self.caption.setText(" · ".join(parts))
        self.caption.setVisible(bool(parts))

    def marker_labels(self) -> list[str]:
        """Labels of the markers drawn for the current run (loss plot), in order."""
        return [
            item.full_label
            for plot, item in self._decorations()
            if plot is self.loss_plot and isinstance(item, pg.InfiniteLine)
        ]

    def overfit_regions(self) -> list[tuple[float, float]]:
        """The shaded overfitting stretches on the loss plot."""
        return [
            tuple(item.getRegion())
            for plot, item in self._decorations()
            if plot is self.loss_plot and isinstance(item, pg.LinearRegionItem)
        ]

    def _decorations(self) -> list[tuple[pg.PlotItem, pg.GraphicsObject]]:
        run = self._current
        if run is None or id(run) not in self._curves:
            return []
        return list(self._curves[id(run)].decorations)

    def curve_points(self, which: str) -> int:
        """Number of points of the current run's curve ``which`` (e.g. ``"val_loss"``)."""
        run = self._current
        if run is None or id(run) not in self._curves:
            return 0
        x, _ = getattr(self._curves[id(run)], which).getData()
        return 0 if x is None else len(x)
