"""A look at a dataset: a summary line and its samples, drawn as fits the data.

Images show as a grid of thumbnails picked at random in class proportions, two-feature
point clouds as a scatter plot coloured by class, other feature vectors as a heat map
of samples (rows, grouped by class) against features (columns).
"""

from __future__ import annotations

import html

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, Qt
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QLabel, QStackedWidget, QVBoxLayout, QWidget

from core.data.dataset import Dataset, stratified_take
from core.shapes import format_shape
from gui.widgets.images import unit_range, value_bounds
from gui.widgets.plots import style_chart
from gui.widgets.sample_grid import SampleGrid, muted_colour

MAX_POINTS = 5000
"""At most this many points of a point cloud are drawn, picked in class proportions."""
MAX_HEATMAP_ROWS = 200
"""Samples shown in the heat map of feature vectors."""
CLASS_COLOURS = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
)
"""Distinct colours of the first ten classes (Tableau 10); further classes get evenly spaced hues."""
EMPTY_TEXT = "No dataset"
LEGEND_ALPHA = 215
"""Opacity of the scatter plot legend's background over the points behind it."""


def class_colours(count: int) -> list[QColor]:
    """One distinct colour per class, readable on light and dark backgrounds."""
    if count <= len(CLASS_COLOURS):
        return [QColor(c) for c in CLASS_COLOURS[:count]]
    return [QColor.fromHsvF(k / count, 0.75, 0.9) for k in range(count)]


def display_range(x: np.ndarray) -> tuple[np.ndarray, bool]:
    """``x`` mapped onto ``[0, 1]`` for display when its values leave that range.

    Parameters
    ----------
    x
        ``(N, C, H, W)`` samples.

    Returns
    -------
    (samples, rescaled)
        ``samples`` is ``x`` itself when it lies in ``[0, 1]``, else ``x`` scaled from
        its own minimum and maximum; ``rescaled`` says which.
    """
    bounds = value_bounds(x)
    return (x, False) if bounds is None else (unit_range(x, *bounds), True)


def summary_html(dataset: Dataset) -> str:
    """The header line: name, sample count, sample shape, classes and the validation and test splits."""
    shape = dataset.sample_shape
    shape_text = f"{format_shape(shape)} (C×H×W)" if len(shape) == 3 else f"{shape[0]} features"
    parts = [
        f"<b>{html.escape(dataset.name)}</b>",
        f"{len(dataset):,} samples",
        shape_text,
        f"{dataset.num_classes} {'class' if dataset.num_classes == 1 else 'classes'}",
    ]
    if dataset.val is not None:
        parts.append(f"validation split: {len(dataset.val):,}")
    if dataset.test is not None:
        parts.append(f"test split: {len(dataset.test):,}")
    return " &nbsp;·&nbsp; ".join(parts)


def class_counts_text(dataset: Dataset) -> str:
    """Tooltip text: how many samples each class has."""
    counts = np.bincount(dataset.y, minlength=dataset.num_classes)
    lines = [f"{name}: {count:,}" for name, count in zip(dataset.class_names, counts)]
    if len(lines) > 30:
        lines = [*lines[:30], f"… and {len(lines) - 30} more classes"]
    return "Samples per class\n" + "\n".join(lines)


class DatasetPreview(QWidget):
    """Summary and samples of one :class:`Dataset`, or of arbitrary samples.

    Attributes
    ----------
    grid
        The :class:`SampleGrid` of image samples (its ``sample_clicked`` gives indices
        into :meth:`shown_indices` for a dataset).
    scatter
        The pyqtgraph plot of two-feature point clouds.
    heatmap
        The pyqtgraph plot of other feature vectors.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._dataset: Dataset | None = None
        self._indices = np.zeros(0, dtype=np.int64)
        self.header = QLabel()
        self.header.setTextFormat(Qt.TextFormat.RichText)
        self.header.setWordWrap(True)
        self.header.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.note = QLabel()
        self.note.setWordWrap(True)
        self.empty = QLabel(EMPTY_TEXT)
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.grid = SampleGrid()
        self.scatter = self._plot()
        self.scatter.setAspectLocked(True)
        self.scatter.addLegend(offset=(8, 8))
        self.heatmap = self._plot()
        self.heatmap.invertY(True)
        self.heatmap.setLabel("bottom", "feature")
        self.stack = QStackedWidget()
        for page in (self.empty, self.grid, self.scatter, self.heatmap):
            self.stack.addWidget(page)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        layout.addWidget(self.header)
        layout.addWidget(self.note)
        layout.addWidget(self.stack, 1)
        self._apply_palette()
        self.set_dataset(None)

    @staticmethod
    def _plot() -> pg.PlotWidget:
        plot = pg.PlotWidget()
        plot.setMenuEnabled(False)
        plot.hideButtons()
        plot.setMinimumSize(160, 120)
        return plot

    # -- public -------------------------------------------------------------------

    def dataset(self) -> Dataset | None:
        return self._dataset

    def mode(self) -> str:
        """What is shown: ``"empty"``, ``"images"``, ``"points"`` or ``"vectors"``."""
        return ("empty", "images", "points", "vectors")[self.stack.currentIndex()]

    def shown_indices(self) -> np.ndarray:
        """``(M,)`` indices into the dataset of the samples drawn (grid order for images)."""
        return self._indices.copy()

    def set_dataset(self, dataset: Dataset | None, count: int = 40, seed: int = 0) -> None:
        """Show ``dataset``: a summary line and a pick of its samples; ``None`` shows "No dataset".

        Parameters
        ----------
        dataset
            The dataset, or ``None`` for the empty state.
        count
            Number of image thumbnails, picked at random in class proportions.
        seed
            Seeds the pick; the same seed shows the same samples.
        """
        self._dataset = dataset
        self._indices = np.zeros(0, dtype=np.int64)
        self.grid.clear()
        self.scatter.clear()
        self.heatmap.clear()
        self.header.setVisible(dataset is not None)
        if dataset is None:
            self.note.hide()
            self.stack.setCurrentWidget(self.empty)
            return
        self.header.setText(summary_html(dataset))
        self.header.setToolTip(class_counts_text(dataset))
        rng = np.random.default_rng(seed)
        if dataset.x.ndim == 4:
            self._show_images(dataset, count, rng)
        elif dataset.sample_shape == (2,):
            self._show_points(dataset, rng)
        else:
            self._show_vectors(dataset, rng)

    def set_samples(self, x: np.ndarray, captions: list[str], highlight: list[bool] | None = None) -> None:
        """Show arbitrary ``(N, C, H, W)`` samples in the grid (e.g. augmented ones); the header stays."""
        self.grid.set_samples(x, captions, highlight=highlight)
        self._indices = np.zeros(0, dtype=np.int64)
        self.note.hide()
        self.stack.setCurrentWidget(self.grid)

    # -- the three views ----------------------------------------------------------

    def _pick(self, dataset: Dataset, count: int, rng: np.random.Generator) -> np.ndarray:
        if count >= len(dataset):
            return np.arange(len(dataset), dtype=np.int64)
        return stratified_take(dataset.y, max(count, 0), rng)

    def _set_note(self, text: str) -> None:
        self.note.setText(text)
        self.note.setVisible(bool(text))

    def _show_images(self, dataset: Dataset, count: int, rng: np.random.Generator) -> None:
        self._indices = self._pick(dataset, count, rng)
        # Show the pick in random order rather than class by class, as a batch would look.
        self._indices = self._indices[rng.permutation(len(self._indices))]
        x, rescaled = display_range(dataset.x[self._indices])
        captions = [dataset.class_names[k] for k in dataset.y[self._indices]]
        self.grid.set_samples(x, captions)
        shown = "all" if len(self._indices) == len(dataset) else f"{len(self._indices):,} random"
        note = f"{shown} samples, in class proportions (hover the summary for the class counts)"
        if rescaled:
            note += "; values outside [0, 1] are shown rescaled to the range of these samples"
        self._set_note(note)
        self.stack.setCurrentWidget(self.grid)

    def _show_points(self, dataset: Dataset, rng: np.random.Generator) -> None:
        self._indices = self._pick(dataset, MAX_POINTS, rng)
        points, labels = dataset.x[self._indices], dataset.y[self._indices]
        plot = self.scatter.getPlotItem()
        for k, colour in enumerate(class_colours(dataset.num_classes)):
            members = points[labels == k]
            if len(members) == 0:
                continue
            item = pg.ScatterPlotItem(
                members[:, 0],
                members[:, 1],
                size=6,
                pen=pg.mkPen(colour.darker(130), width=0.5),
                brush=pg.mkBrush(colour),
                name=dataset.class_names[k],
            )
            plot.addItem(item)
        plot.autoRange()
        drawn = len(self._indices)
        self._set_note(
            f"all {drawn:,} points" if drawn == len(dataset) else f"{drawn:,} of {len(dataset):,} points drawn"
        )
        self.stack.setCurrentWidget(self.scatter)

    def _show_vectors(self, dataset: Dataset, rng: np.random.Generator) -> None:
        picked = self._pick(dataset, MAX_HEATMAP_ROWS, rng)
        self._indices = picked[np.argsort(dataset.y[picked], kind="stable")]
        rows, labels = dataset.x[self._indices], dataset.y[self._indices]
        # Each feature scaled to its own range, so features of different scales all show.
        low, high = rows.min(axis=0), rows.max(axis=0)
        scaled = (rows - low) / np.where(high > low, high - low, 1.0)
        image = pg.ImageItem(scaled, axisOrder="row-major", levels=(0.0, 1.0), colorMap=pg.colormap.get("viridis"))
        # Column f spans f - 0.5 .. f + 0.5, so the axis ticks sit on the feature centres.
        image.setRect(-0.5, 0.0, rows.shape[1], len(rows))
        plot = self.heatmap.getPlotItem()
        plot.addItem(image)
        self._class_ticks(plot, labels, dataset.class_names)
        plot.setLimits(xMin=-0.5, xMax=rows.shape[1] - 0.5, yMin=0, yMax=len(rows))
        plot.autoRange(padding=0)
        self._set_note(
            f"{len(rows):,} samples (rows, grouped by class) × {rows.shape[1]:,} features (columns); "
            "each feature scaled from its lowest (dark) to its highest (yellow) value"
        )
        self.stack.setCurrentWidget(self.heatmap)

    def _class_ticks(self, plot: pg.PlotItem, labels: np.ndarray, names: list[str]) -> None:
        """Name each class block on the left axis and rule lines between the blocks."""
        classes, starts, sizes = np.unique(labels, return_index=True, return_counts=True)
        ticks = [(float(start + size / 2), names[k]) for k, start, size in zip(classes, starts, sizes)]
        plot.getAxis("left").setTicks([ticks, []])
        pen = pg.mkPen(self.palette().color(QPalette.ColorRole.Base), width=1)
        for start in starts[1:]:
            plot.addItem(pg.InfiniteLine(pos=float(start), angle=0, pen=pen, movable=False))

    # -- look ---------------------------------------------------------------------

    def _apply_palette(self) -> None:
        palette = self.palette()
        muted = muted_colour(palette)
        self.note.setStyleSheet(f"QLabel {{ color: {muted.name()}; }}")
        self.empty.setStyleSheet(f"QLabel {{ color: {muted.name()}; font-size: 14px; }}")
        for plot in (self.scatter, self.heatmap):
            style_chart(plot, palette, axis_line=muted, legend_alpha=LEGEND_ALPHA)
        self.scatter.getPlotItem().legend.setPen(pg.mkPen(muted))  # framed: it floats over the points

    def changeEvent(self, event: QEvent) -> None:
        if event.type() == QEvent.Type.PaletteChange:
            self._apply_palette()
        super().changeEvent(event)
