"""How each layer's activations are distributed, and how that moves while the network trains.

The trainer measures percentiles of every layer's outputs on a fixed probe batch a few
times per epoch (:class:`core.training.events.ActivationsMeasured`). For the chosen
layer they are drawn as nested bands against the training position — 1–99, 5–95 and
25–75 percentiles and the median — so a distribution that drifts, widens or collapses
while the layers below it learn (internal covariate shift) is plain to see. Beside it,
every layer's distribution at the latest measurement.

"Compare with BatchNorm" trains the network and the same network with a BatchNorm after
each convolution and dense layer (:func:`core.graph.batchnorm_variant.with_batchnorm`)
for a few epochs on the current dataset, one after the other, and draws the chosen
layer's bands of both side by side on one scale.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QGridLayout, QHBoxLayout, QLabel, QPushButton, QSpinBox, QVBoxLayout, QWidget

from core.data.dataset import Dataset
from core.errors import LayerwiseError
from core.graph.document import NetworkDocument
from core.session.comparison import VARIANTS, batchnorm_comparison
from core.session.engines import NUMPY, EngineChoice
from core.session.job import RunOutcome, TrainingRequest
from core.training.controls import Stop
from core.training.events import ActivationsMeasured, BatchEnded, TrainingFinished
from core.training.history import RunHistory
from gui.inside.model_host import shielded
from gui.widgets.plots import chart, style_chart
from gui.workers.training_worker import TrainingWorker, WorkerMode

BAND_COLOUR = "#4c78a8"
BN_COLOUR = "#2e9e6b"
BAND_ALPHAS = (45, 80, 135)
"""Fill alpha of the 1–99, 5–95 and 25–75 bands."""
HIGHLIGHT = "#e8710a"
REDRAW_MS = 100

DatasetProvider = Callable[[], "Dataset | None"]


def band_series(
    measurements: Sequence[ActivationsMeasured], layer: str
) -> tuple[np.ndarray, tuple[float, ...], np.ndarray]:
    """The percentiles of one layer over a run.

    Returns
    -------
    (positions, levels, values)
        ``(N,)`` training positions in epochs, the percentile levels, and ``(N, L)`` values;
        ``N`` is 0 when the layer was never measured.
    """
    rows = [(m.position, m.layers[layer]) for m in measurements if layer in m.layers]
    levels = tuple(measurements[0].percentiles) if measurements else ()
    if not rows:
        return np.zeros(0), levels, np.zeros((0, len(levels)))
    positions = np.array([p for p, _ in rows], dtype=np.float64)
    values = np.array([v for _, v in rows], dtype=np.float64)
    return positions, levels, values


def band_pairs(levels: Sequence[float]) -> list[tuple[int, int]]:
    """Index pairs ``(low, high)`` of the bands, outermost first: (1, 99), (5, 95), (25, 75) …"""
    count = len(levels)
    return [(i, count - 1 - i) for i in range(count // 2)]


class BandPlot(QWidget):
    """Percentile bands and the median of one layer against the training position.

    Attributes
    ----------
    positions, values
        What is drawn: ``(N,)`` and ``(N, L)``.
    """

    def __init__(self, title: str, colour: str = BAND_COLOUR, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.colour = colour
        self.widget, self.plot = chart("epoch", "activation")
        self.title = title
        self.plot.setTitle(title)
        self.positions = np.zeros(0)
        self.values = np.zeros((0, 0))
        self._items: list[pg.GraphicsObject] = []
        self.placeholder = pg.TextItem("", anchor=(0.5, 0.5), color="#888888")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.widget)
        style_chart(self.widget, self.palette())

    def set_title(self, title: str) -> None:
        self.title = title
        self.plot.setTitle(title)

    def show_message(self, text: str) -> None:
        self.set_series(np.zeros(0), (), np.zeros((0, 0)))
        self.placeholder.setText(text)
        self.plot.addItem(self.placeholder)
        self._items.append(self.placeholder)
        self.placeholder.setPos(0.5, 0.5)
        self.plot.setRange(xRange=(0, 1), yRange=(0, 1))

    def set_series(self, positions: np.ndarray, levels: Sequence[float], values: np.ndarray) -> None:
        """Draw ``values`` ``(N, L)`` at the percentile ``levels`` against ``positions`` ``(N,)``."""
        for item in self._items:
            self.plot.removeItem(item)
        self._items.clear()
        self.positions, self.values = positions, values
        if len(positions) == 0:
            return
        colour = QColor(self.colour)
        for (low, high), alpha in zip(band_pairs(levels), BAND_ALPHAS[-len(band_pairs(levels)) :] if levels else ()):
            fill = QColor(colour)
            fill.setAlpha(alpha)
            # Faint edges: they also give the plot the bands' extent for its automatic range.
            edge = pg.mkPen(fill, width=1)
            lower = pg.PlotCurveItem(positions, values[:, low], pen=edge)
            upper = pg.PlotCurveItem(positions, values[:, high], pen=edge)
            band = pg.FillBetweenItem(lower, upper, brush=pg.mkBrush(fill))
            band.setToolTip(f"{levels[low]:g}th to {levels[high]:g}th percentile")
            for item in (lower, upper, band):
                self.plot.addItem(item)
                self._items.append(item)
        if len(levels) % 2 == 1:
            median = pg.PlotDataItem(
                positions,
                values[:, len(levels) // 2],
                pen=pg.mkPen(colour.darker(140), width=2),
                symbol="o",
                symbolSize=4,
                symbolBrush=colour.darker(140),
                symbolPen=None,
            )
            self.plot.addItem(median)
            self._items.append(median)
        zero = pg.InfiniteLine(pos=0, angle=0, pen=pg.mkPen((128, 128, 128, 120), style=Qt.PenStyle.DashLine))
        self.plot.addItem(zero)
        self._items.append(zero)
        self.plot.enableAutoRange()


class LayerSpread(QWidget):
    """Every layer's distribution at one measurement: whiskers 1–99, box 25–75, median tick.

    Signals
    -------
    layer_clicked(str)
        The name of a clicked layer.
    """

    layer_clicked = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.widget = pg.PlotWidget()
        self.plot: pg.PlotItem = self.widget.getPlotItem()
        self.plot.setMenuEnabled(False)
        self.plot.invertY(True)
        self.plot.showGrid(x=True, alpha=0.15)
        self.plot.setLabel("bottom", "activation")
        self.plot.setTitle("Every layer, latest measurement")
        self.names: list[str] = []
        self._items: list[pg.GraphicsObject] = []
        self.widget.scene().sigMouseClicked.connect(self._clicked)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.widget)
        style_chart(self.widget, self.palette())

    def set_measurement(self, measurement: ActivationsMeasured | None, chosen: str | None) -> None:
        for item in self._items:
            self.plot.removeItem(item)
        self._items.clear()
        self.names = list(measurement.layers) if measurement is not None else []
        if measurement is None or not self.names:
            return
        levels = list(measurement.percentiles)
        values = np.array([measurement.layers[n] for n in self.names], dtype=np.float64)
        pairs = band_pairs(levels)
        rows = np.arange(len(self.names), dtype=np.float64)
        colours = [HIGHLIGHT if n == chosen else BAND_COLOUR for n in self.names]
        if pairs:
            low, high = pairs[0]
            segments_x = np.column_stack([values[:, low], values[:, high]]).ravel()
            segments_y = np.repeat(rows, 2)
            whiskers = pg.PlotDataItem(segments_x, segments_y, connect="pairs", pen=pg.mkPen((120, 120, 120), width=1))
            self._add(whiskers)
            inner = pairs[-1]
            boxes = pg.BarGraphItem(
                x0=values[:, inner[0]],
                x1=values[:, inner[1]],
                y=rows,
                height=0.6,
                brushes=[pg.mkBrush(c) for c in colours],
                pen=None,
            )
            self._add(boxes)
        if len(levels) % 2 == 1:
            medians = pg.ScatterPlotItem(
                values[:, len(levels) // 2],
                rows,
                symbol="s",
                size=5,
                brush=pg.mkBrush("white"),
                pen=pg.mkPen("black", width=0.8),
            )
            self._add(medians)
        axis = self.plot.getAxis("left")
        axis.setTicks([[(float(i), name) for i, name in enumerate(self.names)]])
        self.plot.setYRange(-0.7, len(self.names) - 0.3, padding=0)
        self.plot.enableAutoRange(axis="x")

    def _add(self, item: pg.GraphicsObject) -> None:
        self.plot.addItem(item)
        self._items.append(item)

    def _clicked(self, event) -> None:
        if not self.names:
            return
        point = self.plot.vb.mapSceneToView(event.scenePos())
        index = round(point.y())
        if 0 <= index < len(self.names):
            self.layer_clicked.emit(self.names[index])


class ActivationsView(QWidget):
    """Bands of the chosen layer in the current run, every layer's spread, and the BatchNorm comparison.

    Attributes
    ----------
    current
        Bands of the chosen layer in the app's current run.
    spread
        Every layer at the latest measurement.
    compare_plots
        ``{"plain": BandPlot, "batchnorm": BandPlot}``.
    comparison
        ``{"plain": RunHistory, "batchnorm": RunHistory}`` of the latest comparison.

    Signals
    -------
    layer_chosen(str)
        A layer (by name) was clicked in the spread.
    """

    layer_chosen = Signal(str)

    def __init__(self, worker_mode: WorkerMode = "process", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.document: NetworkDocument | None = None
        self.dataset_provider: DatasetProvider = lambda: None
        self.engine_provider: Callable[[], EngineChoice] = lambda: NUMPY
        """The engine comparisons train with (the Training dock's choice, in the app)."""
        self.layer: str | None = None
        self.history: RunHistory | None = None
        self.comparison: dict[str, RunHistory] = {}
        self._queue: list[tuple[str, TrainingRequest]] = []
        self._running: str | None = None
        self._variant_names: frozenset[str] = frozenset()
        self.worker = TrainingWorker(worker_mode, self)
        self.worker.events_arrived.connect(self._events)
        self.worker.outcome_arrived.connect(self._outcome)
        self.worker.start_failed.connect(self._failed)
        self.worker.idle.connect(self._next_run)
        self.current = BandPlot("Current run")
        self.spread = LayerSpread()
        self.spread.layer_clicked.connect(self.layer_chosen)
        self.compare_plots = {
            key: BandPlot(title, BN_COLOUR if key == "batchnorm" else BAND_COLOUR) for key, title in VARIANTS
        }
        self.compare_plots["batchnorm"].plot.setXLink(self.compare_plots["plain"].plot)
        self.compare_button = QPushButton("Compare with BatchNorm")
        self.compare_button.setToolTip(
            "Train this network and a copy with a BatchNorm after each convolution and dense layer for a few epochs "
            "on the current dataset, and compare the chosen layer's distributions."
        )
        self.stop_button = QPushButton("Stop")
        self.stop_button.setEnabled(False)
        self.epochs = QSpinBox()
        self.epochs.setRange(1, 50)
        self.epochs.setValue(3)
        self.epochs.setSuffix(" epochs")
        self.status = QLabel("Train the network (or compare) to see its activations move.")
        self.status.setWordWrap(True)
        self.header = QLabel()
        self.header.setWordWrap(True)
        self.header.setTextFormat(Qt.TextFormat.RichText)
        self.compare_button.clicked.connect(lambda _checked=False: self.compare_with_batchnorm())
        self.stop_button.clicked.connect(lambda _checked=False: self.stop_comparison())
        buttons = QHBoxLayout()
        buttons.addWidget(self.compare_button)
        buttons.addWidget(self.epochs)
        buttons.addWidget(self.stop_button)
        buttons.addWidget(self.status, 1)
        grid = QGridLayout()
        grid.setHorizontalSpacing(8)
        grid.setVerticalSpacing(6)
        grid.addWidget(self.current, 0, 0)
        grid.addWidget(self.spread, 0, 1)
        grid.addLayout(buttons, 1, 0, 1, 2)
        grid.addWidget(self.compare_plots["plain"], 2, 0)
        grid.addWidget(self.compare_plots["batchnorm"], 2, 1)
        grid.setRowStretch(0, 1)
        grid.setRowStretch(2, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.header)
        layout.addLayout(grid, 1)
        self._redraw_timer = QTimer(self)
        self._redraw_timer.setSingleShot(True)
        self._redraw_timer.setInterval(REDRAW_MS)
        self._redraw_timer.timeout.connect(self._redraw_comparison)
        self.refresh()

    # -- public ----------------------------------------------------------------------

    def set_context(self, document: NetworkDocument | None, dataset_provider: DatasetProvider) -> None:
        self.document, self.dataset_provider = document, dataset_provider

    def set_layer(self, name: str | None, refresh: bool = True) -> None:
        self.layer = name
        if refresh:
            self.refresh()

    def set_run(self, history: RunHistory | None) -> None:
        self.history = history
        self.refresh()

    @shielded
    def run_updated(self) -> None:
        self._draw_current()

    def refresh(self) -> None:
        try:
            self._draw_current()
            self._redraw_comparison()
        except Exception as exc:  # noqa: BLE001 — never raised into Qt
            self.status.setText(f"{type(exc).__name__}: {exc}")

    @property
    def comparing(self) -> bool:
        return self._running is not None or bool(self._queue)

    # -- the current run ---------------------------------------------------------------

    def _draw_current(self) -> None:
        layer, history = self.layer, self.history
        measurements = history.activations if history is not None else []
        if layer is None:
            self.header.setText("Choose a layer to see how its activations are distributed.")
        else:
            self.header.setText(
                f"<b>{html.escape(layer)}</b>: bands hold 50%, 90% and 98% of its outputs on a fixed batch of "
                "validation samples (25–75, 5–95 and 1–99th percentiles), the line is the median. When they drift "
                "while the layers below learn, the layer's input keeps changing: internal covariate shift."
            )
        if not measurements:
            self.current.set_title("Current run")
            self.current.show_message("No activations measured yet: train the network")
            self.spread.set_measurement(None, layer)
            return
        name = history.name if history is not None else ""
        self.current.set_title(f"{layer or ''} · {name}")
        if layer is not None:
            positions, levels, values = band_series(measurements, layer)
            if len(positions):
                self.current.set_series(positions, levels, values)
            else:
                self.current.show_message(f"{layer} was not measured in this run")
        self.spread.set_measurement(measurements[-1], layer)

    # -- comparison --------------------------------------------------------------------

    def compare_with_batchnorm(self) -> bool:
        """Start training the network and its BatchNorm variant; say why when it cannot start."""
        if self.comparing:
            return False
        try:
            requests = self._requests()
        except LayerwiseError as exc:
            self.show_error(str(exc))
            return False
        except Exception as exc:  # noqa: BLE001 — a provider must not break the view
            self.status.setText(f"{type(exc).__name__}: {exc}")
            return False
        self.worker.session.forget_network_runs()  # the session holds this comparison's runs only
        self.comparison = {key: RunHistory(name=title) for key, title in VARIANTS}
        self._queue = requests
        self.compare_button.setEnabled(False)
        self.stop_button.setEnabled(True)
        self._redraw_comparison()
        self._next_run()
        return True

    def _requests(self) -> list[tuple[str, TrainingRequest]]:
        document = self.document
        if document is None:
            raise LayerwiseError("no network to train")
        dataset = self.dataset_provider()
        if dataset is None:
            raise LayerwiseError("choose a dataset in the Training panel first")
        comparison = batchnorm_comparison(document, dataset, self.epochs.value(), self.engine_provider())
        self._variant_names = comparison.variant_names
        return [(key, comparison.requests[key]) for key, _ in VARIANTS]

    @shielded
    def _next_run(self) -> None:
        if self.worker.running:
            return
        self._running = None
        if not self._queue:
            self._finish_comparison()
            return
        key, request = self._queue.pop(0)
        self._running = key
        title = dict(VARIANTS)[key]
        self.status.setText(f"Training {title.lower()} ({request.engine.label})…")
        run = self.worker.start(request, name=title)
        if run is not None:
            self.comparison[key] = run  # the session files the run's events into it

    @shielded
    def _events(self, events: list) -> None:
        key = self._running
        if key is None or key not in self.comparison:
            return
        for event in events:
            if isinstance(event, BatchEnded):
                self.status.setText(
                    f"Training {dict(VARIANTS)[key].lower()}: epoch {event.epoch} of {self.epochs.value()}, "
                    f"batch {event.batch}/{event.batches}"
                )
            elif isinstance(event, TrainingFinished) and event.reason == "failed":
                self._queue.clear()
                self.show_error(event.message)
        if not self._redraw_timer.isActive():
            self._redraw_timer.start()

    @shielded
    def _outcome(self, outcome: RunOutcome) -> None:
        self._redraw_comparison()

    @shielded
    def _failed(self, message: str) -> None:
        self._queue.clear()
        self.show_error(message)

    @shielded
    def stop_comparison(self) -> None:
        self._queue.clear()
        if self.worker.running:
            self.worker.control(Stop())
            self.status.setText("Stopping…")

    def _finish_comparison(self) -> None:
        self.compare_button.setEnabled(True)
        self.stop_button.setEnabled(False)
        runs = [self.comparison.get(key) for key, _ in VARIANTS]
        if runs and all(r is not None and r.finished is not None and r.finished.reason != "failed" for r in runs):
            summary = []
            for (_key, title), run in zip(VARIANTS, runs):
                accuracy = next((a for a in reversed(run.val_accuracy) if a == a), None)  # last non-NaN
                name = title.lower()
                summary.append(f"{name}: val accuracy {accuracy:.3f}" if accuracy is not None else name)
            self.status.setText("Done · " + " · ".join(summary))
        self._redraw_comparison()

    @shielded
    def _redraw_comparison(self) -> None:
        layer = self.layer
        for key, title in VARIANTS:
            plot = self.compare_plots[key]
            run = self.comparison.get(key)
            if run is None or layer is None:
                plot.set_title(title)
                plot.show_message("Press “Compare with BatchNorm”" if run is None else "Choose a layer")
                continue
            shown = layer
            if key == "batchnorm" and f"{layer}_bn" in self._variant_names:
                shown = f"{layer}_bn"  # the normalised output of the same layer
            positions, levels, values = band_series(run.activations, shown)
            plot.set_title(f"{title} · {shown}")
            if len(positions):
                plot.set_series(positions, levels, values)
            else:
                plot.show_message("waiting for measurements…" if self.comparing else f"{shown} was not measured")
        self._share_y_range()

    def _share_y_range(self) -> None:
        """One vertical scale for both runs, so their spreads compare at a glance."""
        drawn = [plot for plot in self.compare_plots.values() if plot.values.size]
        if len(drawn) < 2:
            return
        low = min(float(plot.values.min()) for plot in drawn)
        high = max(float(plot.values.max()) for plot in drawn)
        margin = 0.05 * max(high - low, 1e-9)
        for plot in drawn:
            plot.plot.setYRange(low - margin, high + margin, padding=0)

    def show_error(self, message: str) -> None:
        self.status.setText(f"<span style='color:#c62828'>{html.escape(message)}</span>")

    def shutdown(self) -> None:
        self._queue.clear()
        self.worker.shutdown(0.5)
