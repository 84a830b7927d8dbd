"""Feature maps and filters of one layer: what it computes for an image, and with what.

Four views, offered where they apply:

Feature maps
    Every channel of the layer's output for the chosen input, each scaled to its own
    range (a vector output is drawn as bars).
Filters
    A convolution's kernels. A first layer reading an RGB image shows them as small
    colour images; deeper filters are shown one at a time, as many slices as the
    layer has input channels: the multi-channel convolution sums one 2-D
    convolution per input channel.
Channel mixing
    A 1×1 convolution is a matrix from input to output channels.
Before / after
    A pooling layer's input and output channel side by side on one colour scale;
    hovering an output unit outlines the window it pools.
"""

from __future__ import annotations

import html

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFontMetrics, QImage, QMouseEvent, QPainter, QPaintEvent, QPalette, QPen
from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QSizePolicy,
    QSpinBox,
    QStackedWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from core.analysis.inside import LayerFacts, layer_facts
from core.analysis.introspection import channel_mixing_matrix, conv_filters, feature_maps, filters_are_stamped
from core.errors import LayerwiseError
from core.layers.base import IDENTITY_GEOMETRY
from core.shapes import format_shape, is_image
from gui.inside.input_chooser import InputChooser
from gui.inside.maps import (
    COLOUR_MAPS,
    DEFAULT_MAP,
    SIGNED_MAP,
    accent,
    as_images,
    colourise,
    is_signed,
    rgb_qimage,
    value_range,
)
from gui.inside.model_host import CompiledModel, ModelHost, shielded
from gui.widgets.plots import style_axis, style_chart
from gui.widgets.sample_grid import SampleGrid, muted_colour

MAX_TILES = 64
"""At most this many channels, filters or filter slices are shown at once."""
MAX_BARS = 1024
MODES = (
    ("maps", "Feature maps", "Every channel of the layer's output for the chosen input."),
    ("filters", "Filters", "The convolution's kernels: one slice per input channel."),
    ("mixing", "Channel mixing", "A 1×1 convolution as a matrix from input channels to output channels."),
    ("pooling", "Before / after", "A pooling layer's input and output, channel by channel."),
)
MODE_TITLES = {key: title for key, title, _ in MODES}


def strongest_channels(maps: np.ndarray, limit: int = MAX_TILES) -> np.ndarray:
    """Indices of the ``limit`` channels with the largest maximum, in channel order."""
    if len(maps) <= limit:
        return np.arange(len(maps))
    peaks = maps.reshape(len(maps), -1).max(axis=1)
    return np.sort(np.argsort(-peaks, kind="stable")[:limit])


def tiles_per_channel(maps: np.ndarray, colour_map: str) -> np.ndarray:
    """``(C, h, w)`` maps, each scaled to its own range, as ``(C, 3, h, w)`` images for a grid."""
    signed = is_signed(colour_map)
    coloured = (
        np.stack([colourise(m, *value_range(m, signed), colour_map) for m in maps])
        if len(maps)
        else np.zeros((0, 1, 1, 3), np.uint8)
    )
    return as_images(coloured)


def filter_tiles(kernels: np.ndarray, rgb: bool) -> np.ndarray:
    """Kernels as images: ``(N, 3, kh, kw)`` RGB filters around grey, or slices on a blue–red scale.

    Parameters
    ----------
    kernels
        ``(N, 3, kh, kw)`` when ``rgb`` (each filter scaled by its own largest weight, zero
        at mid-grey), else ``(N, kh, kw)`` slices sharing one symmetric scale.
    """
    if rgb:
        top = np.abs(kernels).reshape(len(kernels), -1).max(axis=1)
        scale = np.where(top > 0, top, 1.0)[:, None, None, None]
        return np.clip(kernels / (2 * scale) + 0.5, 0.0, 1.0).astype(np.float32)
    low, high = value_range(kernels, signed=True)
    return as_images(colourise(kernels, low, high, SIGNED_MAP))


class HeatmapWidget(QWidget):
    """One 2-D array on a colour map at a whole-number zoom, with a caption and an optional outlined window.

    Signals
    -------
    unit_hovered(object)
        ``(row, col)`` under the pointer or ``None``.
    """

    unit_hovered = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.values: np.ndarray | None = None
        self.image: QImage | None = None
        self.caption = ""
        self.window: tuple[int, int, int, int] | None = None
        """``(top, left, bottom, right)`` cells to outline (inclusive; may reach outside)."""
        self.hovered: tuple[int, int] | None = None
        self.setMouseTracking(True)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(160, 160)

    def set_values(self, values: np.ndarray | None, levels: tuple[float, float], colour_map: str, caption: str) -> None:
        self.values, self.caption = values, caption
        self.image = rgb_qimage(colourise(values, *levels, colour_map)) if values is not None else None
        self.update()

    def _rect(self) -> tuple[QRectF, float] | None:
        if self.values is None:
            return None
        h, w = self.values.shape
        caption = QFontMetrics(self.font()).height() + 8
        area = QRectF(self.rect()).adjusted(8, 8 + caption, -8, -8)
        cell = min(area.width() / w, area.height() / h)
        cell = float(int(cell)) if cell >= 2 else cell
        return QRectF(area.left() + (area.width() - w * cell) / 2, area.top(), w * cell, h * cell), cell

    def cell_at(self, pos: QPointF) -> tuple[int, int] | None:
        placed = self._rect()
        if placed is None or not placed[0].contains(pos):
            return None
        rect, cell = placed
        h, w = self.values.shape  # type: ignore[union-attr]
        row, col = int((pos.y() - rect.top()) // cell), int((pos.x() - rect.left()) // cell)
        return (row, col) if 0 <= row < h and 0 <= col < w else None

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        palette = self.palette()
        placed = self._rect()
        if placed is None or self.image is None:
            painter.setPen(muted_colour(palette))
            painter.drawText(self.rect(), int(Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap), self.caption)
            return
        rect, cell = placed
        painter.setPen(palette.color(QPalette.ColorRole.WindowText))
        painter.drawText(QPointF(rect.left(), rect.top() - 8), self.caption)
        painter.drawImage(rect, self.image)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        colour = accent(palette)
        if self.hovered is not None:
            row, col = self.hovered
            painter.setPen(QPen(QColor("white"), 2))
            painter.drawRect(QRectF(rect.left() + col * cell, rect.top() + row * cell, cell, cell))
        if self.window is not None:
            top, left, bottom, right = self.window
            window = QRectF(
                rect.left() + left * cell, rect.top() + top * cell, (right - left + 1) * cell, (bottom - top + 1) * cell
            )
            painter.setPen(QPen(QColor(0, 0, 0, 160), 5))
            painter.drawRect(window)
            painter.setPen(QPen(colour, 2.5))
            painter.drawRect(window)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        cell = self.cell_at(event.position())
        if cell != self.hovered:
            self.hovered = cell
            self.unit_hovered.emit(cell)
            self.update()

    def leaveEvent(self, event) -> None:
        if self.hovered is not None:
            self.hovered = None
            self.unit_hovered.emit(None)
            self.update()

    def sizeHint(self) -> QSize:
        return QSize(320, 320)


class FeatureMapsView(QWidget):
    """Feature maps, filters, channel mixing or pooling of the chosen layer.

    Attributes
    ----------
    mode_buttons
        One checkable button per mode of :data:`MODES`; only those that apply are enabled.
    grid
        The tiles of the maps and filters modes.
    shown
        What the current mode shows, for tests: ``"maps"`` → ``(C, h, w)`` values of the
        shown channels, ``"filters"`` → kernels, ``"mixing"`` → matrix, ``"pooling"`` →
        ``(before, after)`` channel.

    Signals
    -------
    channel_chosen(int)
        A feature-map tile was clicked.
    """

    channel_chosen = Signal(int)

    def __init__(self, host: ModelHost, chooser: InputChooser, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.host, self.chooser = host, chooser
        self.node_id: str | None = None
        self.facts: LayerFacts | None = None
        self.mode = "maps"
        self.shown: object = None
        self._tile_channels: np.ndarray = np.zeros(0, np.int64)
        self._pool_arrays: tuple[np.ndarray, np.ndarray] | None = None
        self._request_key: tuple | None = None
        self.mode_buttons: dict[str, QToolButton] = {}
        group = QButtonGroup(self)
        group.setExclusive(True)
        controls = QHBoxLayout()
        controls.setSpacing(4)
        for key, title, tooltip in MODES:
            button = QToolButton()
            button.setText(title)
            button.setToolTip(tooltip)
            button.setCheckable(True)
            button.clicked.connect(lambda _checked=False, k=key: self.set_mode(k))
            group.addButton(button)
            controls.addWidget(button)
            self.mode_buttons[key] = button
        self.mode_buttons["maps"].setChecked(True)
        controls.addSpacing(12)
        self.filter_index = QSpinBox()
        self.filter_index.setPrefix("filter ")
        self.filter_index.setKeyboardTracking(False)
        self.filter_index.setToolTip("Which output filter's slices are shown.")
        self.pool_channel = QSpinBox()
        self.pool_channel.setPrefix("channel ")
        self.pool_channel.setKeyboardTracking(False)
        self.colour_map = QComboBox()
        self.colour_map.addItems(list(COLOUR_MAPS))
        self.colour_map.setCurrentText(DEFAULT_MAP)
        self.colour_map.setToolTip("Colours of the feature maps.")
        controls.addWidget(self.filter_index)
        controls.addWidget(self.pool_channel)
        controls.addStretch(1)
        self.colour_label = QLabel("Colours")
        controls.addWidget(self.colour_label)
        controls.addWidget(self.colour_map)
        self.header = QLabel()
        self.header.setWordWrap(True)
        self.header.setTextFormat(Qt.TextFormat.RichText)
        self.grid = SampleGrid()
        self.bars = pg.PlotWidget()
        self.bars.setMenuEnabled(False)
        self.bars.getPlotItem().setLabel("bottom", "feature")
        self.bars.getPlotItem().setLabel("left", "value")
        self.matrix = pg.PlotWidget()
        self.matrix.setMenuEnabled(False)
        self.matrix_item = pg.ImageItem(axisOrder="row-major")
        self.matrix.addItem(self.matrix_item)
        self.matrix.getPlotItem().invertY(True)
        self.matrix.getPlotItem().setLabel("bottom", "input channel")
        self.matrix.getPlotItem().setLabel("left", "output channel")
        self.matrix.getPlotItem().setAspectLocked(False)
        signed = pg.colormap.get(COLOUR_MAPS[SIGNED_MAP])
        self.colour_bar = pg.ColorBarItem(colorMap=signed, interactive=False, width=14)
        self.colour_bar.setImageItem(self.matrix_item, insert_in=self.matrix.getPlotItem())
        for plot in (self.bars, self.matrix):
            style_chart(plot, self.palette())
        style_axis(self.colour_bar.axis, self.palette())
        self.before, self.after = HeatmapWidget(), HeatmapWidget()
        pooling = QWidget()
        pair = QHBoxLayout(pooling)
        pair.addWidget(self.before)
        pair.addWidget(self.after)
        self.message = QLabel()
        self.message.setWordWrap(True)
        self.message.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.pages = QStackedWidget()
        for page in (self.grid, self.bars, self.matrix, pooling, self.message):
            self.pages.addWidget(page)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.setSpacing(6)
        layout.addLayout(controls)
        layout.addWidget(self.header)
        layout.addWidget(self.pages, 1)
        self.filter_index.valueChanged.connect(lambda _v: self.refresh())
        self.pool_channel.valueChanged.connect(lambda _v: self._show_pooling())
        self.colour_map.currentTextChanged.connect(lambda _name: self.refresh())
        self.grid.sample_clicked.connect(self._tile_clicked)
        self.after.unit_hovered.connect(self._pool_unit_hovered)
        self._update_controls()

    # -- public ----------------------------------------------------------------------

    def set_layer(self, node_id: str | None, refresh: bool = True) -> None:
        if node_id != self.node_id:
            self.node_id = node_id
            blocked = self.filter_index.blockSignals(True)
            self.filter_index.setValue(0)
            self.filter_index.blockSignals(blocked)
            if refresh:
                self.refresh()

    @shielded
    def set_mode(self, mode: str) -> None:
        self.mode = mode
        self.mode_buttons[mode].setChecked(True)
        self.refresh()

    def refresh(self) -> None:
        try:
            self._refresh()
        except Exception as exc:  # noqa: BLE001 — never raised into Qt
            self._show_message(str(exc) if isinstance(exc, LayerwiseError) else f"{type(exc).__name__}: {exc}")

    # -- internals -------------------------------------------------------------------

    def show_error(self, message: str) -> None:
        """Show ``message`` in place of the maps."""
        self._show_message(message)

    def _show_message(self, text: str) -> None:
        self.message.setText(text)
        self.header.setText("")
        self.pages.setCurrentWidget(self.message)
        self.shown = None

    def _update_controls(self) -> None:
        modes = self.facts.modes if self.facts is not None else ["maps"]
        for key, button in self.mode_buttons.items():
            button.setEnabled(key in modes)
        if self.mode not in modes:
            self.mode = "maps"
            self.mode_buttons["maps"].setChecked(True)
        self.filter_index.setVisible(self.mode == "filters")
        self.pool_channel.setVisible(self.mode == "pooling")
        coloured = self.mode in ("maps", "pooling")  # filters and matrices keep their blue–red scale
        self.colour_map.setVisible(coloured)
        self.colour_label.setVisible(coloured)

    def _refresh(self) -> None:
        document = self.host.document
        if document is None or self.node_id is None or self.node_id not in document:
            self.facts = None
            self._update_controls()
            self._show_message("Choose a layer to see its feature maps and filters.")
            return
        self.facts = layer_facts(document, self.node_id)
        self._update_controls()
        facts, mode = self.facts, self.mode
        sample = self.chooser.sample()
        needs_input = mode in ("maps", "pooling")
        if needs_input and sample is None:
            self._show_message(self.chooser.error() or "No input image.")
            return
        x = sample.x if sample is not None else None
        if mode == "filters":
            fn = lambda compiled: (  # noqa: E731
                conv_filters(compiled.model, facts.node_id),
                filters_are_stamped(compiled.model, facts.node_id),
            )
        elif mode == "mixing":
            fn = lambda compiled: channel_mixing_matrix(compiled.model, facts.node_id)  # noqa: E731
        elif mode == "pooling":
            fn = lambda compiled: _pooling_pair(compiled, x, facts)  # noqa: E731
        else:
            fn = lambda compiled: feature_maps(compiled.model, x, facts.node_id)  # noqa: E731
        key = (self.host.state_key(), sample.key if needs_input and sample else None, facts.node_id, mode)
        self._request_key = key
        if self.pages.currentWidget() is self.message:
            self.message.setText("Computing…")
        self.host.request(
            "fm",
            fn,
            lambda result: self._arrived(key, result),
            self._show_message,
            f"Computing {MODE_TITLES[mode].lower()} of {facts.name}",
        )

    @shielded
    def _arrived(self, key: tuple, result: object) -> None:
        if key != self._request_key or self.facts is None:
            return
        mode = key[3]
        if mode == "maps":
            self._show_maps(np.asarray(result))
        elif mode == "filters":
            kernels, stamped = result  # type: ignore[misc]
            self._show_filters(np.asarray(kernels), stamped)
        elif mode == "mixing":
            self._show_mixing(np.asarray(result))
        else:
            self._pool_arrays = result  # type: ignore[assignment]
            channels = self._pool_arrays[1].shape[0]
            self.pool_channel.setRange(0, channels - 1)
            self.pool_channel.setSuffix(f" of {channels}")
            self._show_pooling()

    def _show_maps(self, maps: np.ndarray) -> None:
        facts = self.facts
        assert facts is not None
        if maps.ndim == 1:
            self._show_vector(maps)
            return
        channels = strongest_channels(maps)
        self._tile_channels = channels
        shown = maps[channels]
        self.shown = shown
        peaks = shown.reshape(len(shown), -1).max(axis=1)
        captions = [f"{c} · {p:.2g}" for c, p in zip(channels, peaks)]
        self.grid.set_samples(tiles_per_channel(shown, self.colour_map.currentText()), captions)
        if len(channels) < len(maps):
            which = f"the {len(channels)} strongest of {len(maps)} channels"
        else:
            which = f"all {len(maps)} channels"
        dead = int((maps.reshape(len(maps), -1).max(axis=1) <= 0).sum())
        dead_note = f" · {dead} channel(s) are zero everywhere on this image" if dead else ""
        self.header.setText(
            f"<b>{html.escape(facts.name)}</b> ({facts.type_name}, {format_shape(maps.shape)}) "
            f"on <b>{self._input_name()}</b>: "
            f"{which}, each scaled to its own range; the caption gives the channel and its peak value{dead_note}. "
            "Click a channel to follow it in the receptive field view."
        )
        self.pages.setCurrentWidget(self.grid)

    def _show_vector(self, values: np.ndarray) -> None:
        facts = self.facts
        assert facts is not None
        self.shown = values
        count = min(len(values), MAX_BARS)
        plot = self.bars.getPlotItem()
        plot.clear()
        colours = [pg.mkBrush("#1f77b4" if v >= 0 else "#d62728") for v in values[:count]]
        plot.addItem(pg.BarGraphItem(x=np.arange(count), height=values[:count], width=0.85, brushes=colours, pen=None))
        more = f" (the first {count} of {len(values)})" if count < len(values) else ""
        self.header.setText(
            f"<b>{html.escape(facts.name)}</b> ({facts.type_name}) outputs a vector of {len(values)} features{more}."
        )
        self.pages.setCurrentWidget(self.bars)

    def _input_name(self) -> str:
        sample = self.chooser.sample()
        return html.escape(sample.description) if sample is not None else "the input"

    def _show_filters(self, kernels: np.ndarray, stamped: bool = False) -> None:
        """Show ``kernels`` ``(C_out, C_in / groups, kh, kw)``, one filter per output channel.

        ``stamped``: the layer is a transposed convolution, whose input pixels stamp the
        kernels onto the output, rather than a convolution sliding them over its input.
        """
        facts = self.facts
        document = self.host.document
        assert facts is not None and document is not None
        out_channels, per_filter, kh, kw = kernels.shape
        source = html.escape(document.node(facts.source_id).name) if facts.source_id else "its input"
        reads_input = facts.source_id is not None and document.node(facts.source_id).layer.is_network_input
        if (per_filter in (1, 3) and reads_input) or per_filter == 1:
            shown = kernels[:MAX_TILES]
            rgb = per_filter == 3
            tiles = filter_tiles(shown if rgb else shown[:, 0], rgb)
            self.shown = shown
            self.grid.set_samples(tiles, [f"filter {f}" for f in range(len(shown))])
            self.filter_index.setVisible(False)
            more = f" (the first {len(shown)} of {out_channels})" if len(shown) < out_channels else ""
            colours = "as colour images, mid-grey for zero" if rgb else "blue negative, red positive"
            if stamped:
                self.header.setText(
                    f"<b>{html.escape(facts.name)}</b> is a transposed convolution with {out_channels} filters "
                    f"of {per_filter}×{kh}×{kw}{more}, {colours}, one per output channel. Each pixel of "
                    f"{'the image' if reads_input else source} stamps filter <i>f</i>, scaled by its value, onto "
                    "output channel <i>f</i>, stride pixels apart: these are the patterns it paints."
                )
            else:
                self.header.setText(
                    f"<b>{html.escape(facts.name)}</b> has {out_channels} filters of {per_filter}×{kh}×{kw}{more}, "
                    f"{colours}. "
                    f"Each reads {'the image' if reads_input else source} directly: these are the patterns it looks for."
                )
        else:
            self.filter_index.setRange(0, out_channels - 1)
            self.filter_index.setSuffix(f" of {out_channels}")
            index = self.filter_index.value()
            slices = kernels[index, :MAX_TILES]
            self.shown = kernels[index]
            groups = max(self._groups(), 1)
            first_in = (index // (out_channels // groups)) * per_filter if groups > 1 else 0
            self.grid.set_samples(filter_tiles(slices, rgb=False), [f"in {first_in + k}" for k in range(len(slices))])
            more = f" (the first {len(slices)} shown)" if len(slices) < per_filter else ""
            if stamped:
                kept = f"weight[{first_in}:{first_in + per_filter}, {index % (out_channels // groups)}]"
                self.header.setText(
                    f"Filter {index} of <b>{html.escape(facts.name)}</b>, a transposed convolution, is "
                    f"{per_filter}×{kh}×{kw}: <b>one kernel per channel of {source}</b>{more}, what that channel "
                    f"adds to output channel {index}. Each input pixel stamps its kernel, scaled by its value, onto "
                    f"the output, stride pixels apart; output channel {index} is the sum of these stamps plus a "
                    f"bias. The slices are {kept} as PyTorch and ONNX keep the weight. Blue is negative, red "
                    "positive, on one scale for all slices."
                )
            else:
                self.header.setText(
                    f"Filter {index} of <b>{html.escape(facts.name)}</b> is {per_filter}×{kh}×{kw}: it has "
                    f"<b>{per_filter} channels, one per channel of {source}</b>{more}. Its output is the sum of "
                    f"{per_filter} 2-D convolutions, one per slice, plus a bias. Blue is negative, red positive, "
                    "on one scale for all slices."
                )
        self.pages.setCurrentWidget(self.grid)

    def _groups(self) -> int:
        document = self.host.document
        if document is None or self.node_id is None or self.node_id not in document:
            return 1
        return int(document.node(self.node_id).layer.params.get("groups", 1))

    def _show_mixing(self, matrix: np.ndarray) -> None:
        facts = self.facts
        assert facts is not None
        self.shown = matrix
        low, high = value_range(matrix, signed=True)
        self.matrix_item.setImage(matrix, levels=(low, high))
        # Cells centred on whole numbers, so the axis ticks name channels.
        self.matrix_item.setRect(QRectF(-0.5, -0.5, matrix.shape[1], matrix.shape[0]))
        self.colour_bar.setLevels((low, high))
        rows, cols = matrix.shape
        self.matrix.getPlotItem().setRange(xRange=(-0.5, cols - 0.5), yRange=(-0.5, rows - 0.5), padding=0)
        self.header.setText(
            f"<b>{html.escape(facts.name)}</b> is a 1×1 convolution: each output channel is a weighted sum of the "
            f"{matrix.shape[1]} input channels at the same position, so it is the {matrix.shape[0]}×{matrix.shape[1]} "
            "matrix below (row: output channel, column: input channel). It mixes channels and changes their number; "
            "it looks at no neighbours."
        )
        self.pages.setCurrentWidget(self.matrix)

    @shielded
    def _show_pooling(self) -> None:
        facts, arrays = self.facts, self._pool_arrays
        if facts is None or arrays is None or self.mode != "pooling":
            return
        before, after = arrays
        channel = min(self.pool_channel.value(), len(after) - 1)
        colour_map = self.colour_map.currentText()
        levels = value_range(before[channel], is_signed(colour_map))
        document = self.host.document
        source = document.node(facts.source_id).name if document is not None and facts.source_id else "input"
        before_caption = f"before: {source} · {before.shape[1]}×{before.shape[2]}"
        self.before.set_values(before[channel], levels, colour_map, before_caption)
        after_caption = f"after: {facts.name} · {after.shape[1]}×{after.shape[2]}"
        self.after.set_values(after[channel], levels, colour_map, after_caption)
        self.shown = (before[channel], after[channel])
        geometry = facts.geometry or IDENTITY_GEOMETRY
        kind = facts.pools_by
        self.header.setText(
            f"<b>{html.escape(facts.name)}</b> keeps the {kind} of each "
            f"{geometry.kernel[0]}×{geometry.kernel[1]} window, "
            f"moving {geometry.stride[0]}×{geometry.stride[1]} at a time: {before.shape[1]}×{before.shape[2]} → "
            f"{after.shape[1]}×{after.shape[2]} per channel, on one colour scale. "
            "Hover an output cell to see its window."
        )
        self.pages.setCurrentIndex(3)

    @shielded
    def _pool_unit_hovered(self, cell: tuple[int, int] | None) -> None:
        facts = self.facts
        if cell is None or facts is None or facts.geometry is None:
            self.before.window = None
        else:
            g = facts.geometry
            top = cell[0] * g.stride[0] - g.pad_begin[0]
            left = cell[1] * g.stride[1] - g.pad_begin[1]
            bottom = top + g.dilation[0] * (g.kernel[0] - 1)
            right = left + g.dilation[1] * (g.kernel[1] - 1)
            self.before.window = (top, left, bottom, right)
        self.before.update()

    @shielded
    def _tile_clicked(self, index: int) -> None:
        if self.mode == "maps" and 0 <= index < len(self._tile_channels):
            self.channel_chosen.emit(int(self._tile_channels[index]))


def _pooling_pair(compiled: CompiledModel, x: np.ndarray, facts: LayerFacts) -> tuple[np.ndarray, np.ndarray]:
    """The pooling layer's input and output for one sample, ``(C, H, W)`` and ``(C, h, w)``."""
    assert facts.source_id is not None
    model = compiled.model
    before = model.forward_output(x[None], facts.source_id, facts.source_port)[0]
    after = model.forward_to(x[None], [facts.node_id])[facts.node_id][0]
    if not (is_image(before.shape) and is_image(after.shape)):
        raise LayerwiseError(f"layer {facts.name!r} does not pool a feature map")
    return before, after
