"""The "See inside" panel: receptive fields, feature maps and filters, activations, field growth, why this class.

One input image and one layer are shared by the tabs; the layer follows the canvas
selection. Only the visible tab is recomputed after an edit, and only when it is
shown; small networks compute in the GUI thread, large ones in the background with
a busy indicator (see :mod:`gui.inside.model_host`).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
from PySide6.QtCore import QEvent, QTimer
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QProgressBar, QTabWidget, QVBoxLayout, QWidget

from core.analysis.receptive_field import receptive_fields
from core.data.dataset import Dataset
from core.errors import LayerwiseError
from core.graph.document import NetworkDocument
from core.graph.validation import check_graph
from core.shapes import is_image
from core.training.history import RunHistory
from gui.inside.activations_view import ActivationsView
from gui.inside.explain_view import ExplainView
from gui.inside.feature_maps_view import FeatureMapsView
from gui.inside.input_chooser import InputChooser
from gui.inside.model_host import ModelHost, shielded
from gui.inside.receptive_field_view import ReceptiveFieldView
from gui.inside.rf_depth_chart import RfDepthChart
from gui.panels.inspector import style_sheet
from gui.workers.training_worker import WorkerMode

TABS = ("Receptive field", "Feature maps & filters", "Activations", "RF by depth", "Why this class?")
TAB_TITLES = tuple(t.replace("&", "&&") for t in TABS)  # a single & would mark a keyboard shortcut
WeightsProvider = Callable[[], "dict[str, np.ndarray] | None"]
DatasetProvider = Callable[[], "Dataset | None"]
BUSY_TICK_MS = 200
MIN_DEFAULT_MAP = 4
IMAGE_TABS = (0, 1, 4)
"""The tabs that look at the shared input image (the chooser shows with them)."""


def default_layer(document: NetworkDocument) -> str | None:
    """The deepest layer whose output is still a map of the image, at least 4×4 when there is one.

    Its units have the largest receptive fields that still show as rectangles on the image;
    a 1×1 map (global pooling) sees everything and says little.
    """
    try:
        check = check_graph(document)
        fields = receptive_fields(document)
    except LayerwiseError:
        return None
    spatial = [
        n.id
        for n in check.order
        if fields.get(n.id) is not None
        and check.shapes.get(n.id) is not None
        and is_image(check.shapes[n.id])
        and n.layer.max_inputs != 0
    ]
    roomy = [i for i in spatial if min(check.shapes[i][1:]) >= MIN_DEFAULT_MAP]  # type: ignore[index]
    return (roomy or spatial or [None])[-1]


class InsidePanel(QWidget):
    """Tabs that show what a network computes inside, for a chosen input and layer.

    Attributes
    ----------
    chooser
        The input image, shared by the receptive field and feature map tabs.
    layer_combo
        The layer, shared by all tabs; follows :meth:`select_layer`.
    tabs, receptive_field, feature_maps, activations, depth_chart, explain
        The tab widget and its pages.
    """

    def __init__(self, parent: QWidget | None = None, worker_mode: WorkerMode = "process") -> None:
        super().__init__(parent)
        self.document: NetworkDocument | None = None
        self._dataset_provider: DatasetProvider = lambda: None
        self._dirty: set[int] = set(range(len(TABS)))
        self._quiet = False
        self.host = ModelHost(self)
        self.chooser = InputChooser()
        self.layer_combo = QComboBox()
        self.layer_combo.setToolTip("The layer the tabs look at; selecting a layer on the canvas chooses it too.")
        self.layer_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.layer_combo.setMinimumContentsLength(14)
        self.receptive_field = ReceptiveFieldView(self.host, self.chooser)
        self.feature_maps = FeatureMapsView(self.host, self.chooser)
        self.activations = ActivationsView(worker_mode)
        self.depth_chart = RfDepthChart()
        self.explain = ExplainView(self.host, self.chooser)
        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        pages = (self.receptive_field, self.feature_maps, self.activations, self.depth_chart, self.explain)
        for page, title in zip(pages, TAB_TITLES):
            self.tabs.addTab(page, title)
        self.busy_bar = QProgressBar()
        self.busy_bar.setRange(0, 0)
        self.busy_bar.setMaximumWidth(120)
        self.busy_bar.setMaximumHeight(12)
        self.busy_bar.setTextVisible(False)
        self.busy_bar.hide()
        self.busy_label = QLabel()
        self.busy_label.setProperty("role", "muted")
        top = QHBoxLayout()
        top.setSpacing(8)
        top.addWidget(self.chooser)
        top.addSpacing(16)
        top.addWidget(QLabel("Layer"))
        top.addWidget(self.layer_combo)
        top.addStretch(1)
        top.addWidget(self.busy_label)
        top.addWidget(self.busy_bar)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.setSpacing(4)
        layout.addLayout(top)
        layout.addWidget(self.tabs, 1)
        self._busy_timer = QTimer(self)
        self._busy_timer.setInterval(BUSY_TICK_MS)
        self._busy_timer.timeout.connect(self._tick_busy)
        self._busy_text = ""
        self.tabs.currentChanged.connect(self._tab_changed)
        self.layer_combo.currentIndexChanged.connect(self._layer_chosen)
        self.chooser.input_changed.connect(self._input_changed)
        self.host.busy_changed.connect(self._busy_changed)
        self.feature_maps.channel_chosen.connect(self._follow_channel)
        self.activations.layer_chosen.connect(self._select_by_name)
        self.setStyleSheet(style_sheet(self.palette()))

    # -- the interface the main window uses ----------------------------------------------

    def set_context(
        self, document: NetworkDocument, weights_provider: WeightsProvider, dataset_provider: DatasetProvider
    ) -> None:
        """Follow ``document`` with its trained weights and the app's dataset."""
        self.document = document
        self._dataset_provider = dataset_provider
        self.host.set_context(document, weights_provider)
        self.activations.set_context(document, dataset_provider)
        self.explain.set_dataset_provider(dataset_provider)
        self._quiet = True  # one refresh at the end, not one per step
        try:
            self.chooser.set_dataset_provider(dataset_provider)
            self._fill_layers(keep=None)
            self.chooser.set_input_shape(self._input_shape(), self._input_resize())
        finally:
            self._quiet = False
        self._invalidate()

    def network_changed(self) -> None:
        """The document was edited: recompute what is visible, the rest when it is shown."""
        self.host.network_changed()
        self._quiet = True
        try:
            self._fill_layers(keep=self.current_layer())
            self.chooser.set_input_shape(self._input_shape(), self._input_resize())
        finally:
            self._quiet = False
        self._invalidate()

    def weights_changed(self) -> None:
        """New trained weights: maps and effective fields change, the theoretical fields do not."""
        self.host.weights_changed()
        self._invalidate()

    def dataset_changed(self) -> None:
        """The app's chosen dataset changed (optional: the provider is also asked when the network changes)."""
        self.chooser.dataset_changed()

    def select_layer(self, node_id: str | None) -> None:
        """Choose the layer ``node_id`` in every tab (``None`` keeps the current choice)."""
        if node_id is None:
            return
        index = self.layer_combo.findData(node_id)
        if index >= 0 and index != self.layer_combo.currentIndex():
            self.layer_combo.setCurrentIndex(index)

    def set_run(self, history: RunHistory | None) -> None:
        """The app's current training run, whose activation measurements the Activations tab draws."""
        self.activations.set_run(history)

    def run_updated(self) -> None:
        """The current run received events (called at most about 20 times a second)."""
        if self.tabs.currentWidget() is self.activations and self.isVisible():
            self.activations.run_updated()
        else:
            self._dirty.add(TABS.index("Activations"))

    def current_layer(self) -> str | None:
        data = self.layer_combo.currentData()
        return str(data) if data is not None else None

    def shutdown(self) -> None:
        """Stop background work and any comparison run (the window is closing)."""
        self.host.shutdown()
        self.activations.shutdown()

    # -- internals -------------------------------------------------------------------------

    def _input_shape(self) -> tuple | None:
        document = self.document
        if document is None:
            return None
        try:
            check = check_graph(document)
        except LayerwiseError:
            return None
        inputs = [n for n in check.order if n.layer.max_inputs == 0]
        return tuple(check.shapes[inputs[0].id]) if len(inputs) == 1 and check.shapes.get(inputs[0].id) else None

    def _input_resize(self) -> int:
        """The network Input's ``resize`` for image files (0 when there is none, or several inputs)."""
        document = self.document
        inputs = [node for node in document.nodes if node.layer.is_network_input] if document is not None else []
        preprocessing = inputs[0].layer.preprocessing if len(inputs) == 1 else None
        return preprocessing.resize if preprocessing is not None else 0

    def _fill_layers(self, keep: str | None) -> None:
        document = self.document
        blocked = self.layer_combo.blockSignals(True)
        self.layer_combo.clear()
        if document is not None:
            try:
                order = check_graph(document).order
            except LayerwiseError:
                order = document.nodes
            for node in order:
                if node.layer.max_inputs != 0:
                    self.layer_combo.addItem(f"{node.name}  ({node.type_name})", node.id)
            wanted = keep if keep is not None and keep in document else default_layer(document)
            index = self.layer_combo.findData(wanted) if wanted is not None else -1
            self.layer_combo.setCurrentIndex(index if index >= 0 else self.layer_combo.count() - 1)
        self.layer_combo.blockSignals(blocked)
        self._apply_layer()

    def _apply_layer(self) -> None:
        """Hand the chosen layer to every view; they compute when shown."""
        node_id = self.current_layer()
        document = self.document
        known = document is not None and node_id is not None and node_id in document
        name = document.node(node_id).name if known else None  # type: ignore[union-attr]
        self.receptive_field.set_layer(node_id, refresh=False)
        self.feature_maps.set_layer(node_id, refresh=False)
        self.explain.set_layer(node_id, refresh=False)
        self.activations.set_layer(name, refresh=False)

    @shielded
    def _layer_chosen(self, _index: int) -> None:
        self._apply_layer()
        if not self._quiet:
            self._invalidate()

    @shielded
    def _select_by_name(self, name: str) -> None:
        document = self.document
        node = document.node_by_name(name) if document is not None else None
        if node is not None:
            self.select_layer(node.id)

    @shielded
    def _follow_channel(self, channel: int) -> None:
        self.receptive_field.set_channel(channel)
        self.tabs.setCurrentWidget(self.receptive_field)

    @shielded
    def _input_changed(self) -> None:
        self._dirty.update(IMAGE_TABS)
        if not self._quiet:
            self._refresh_visible()

    def _invalidate(self) -> None:
        self._dirty = set(range(len(TABS)))
        self._refresh_visible()

    def _visible_tab(self) -> int:
        return self.tabs.currentIndex()

    @shielded
    def _tab_changed(self, index: int) -> None:
        self.chooser.setVisible(index in IMAGE_TABS)
        self._refresh_visible()

    @shielded
    def _refresh_visible(self) -> None:
        if not self.isVisible():
            return  # showEvent refreshes
        index = self._visible_tab()
        if index not in self._dirty:
            return
        self._dirty.discard(index)
        page = self.tabs.widget(index)
        if page is self.receptive_field:
            self.receptive_field.refresh()
        elif page is self.feature_maps:
            self.feature_maps.refresh()
        elif page is self.activations:
            self.activations.refresh()
        elif page is self.explain:
            self.explain.refresh()
        elif page is self.depth_chart:
            layer = self.current_layer()
            name = self.document.node(layer).name if self.document is not None and layer in self.document else None
            self.depth_chart.set_document(self.document, name)

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self._refresh_visible()

    def changeEvent(self, event: QEvent) -> None:
        if event.type() == QEvent.Type.PaletteChange:
            self.setStyleSheet(style_sheet(self.palette()))
        super().changeEvent(event)

    def show_error(self, message: str) -> None:
        self.busy_label.setText(message)

    # -- busy indicator ---------------------------------------------------------------------

    def _busy_changed(self, busy: bool, text: str) -> None:
        self.busy_bar.setVisible(busy)
        self._busy_text = text
        if busy:
            self._busy_timer.start()
            self._tick_busy()
        else:
            self._busy_timer.stop()
            self.busy_label.setText("")

    def _tick_busy(self) -> None:
        elapsed = time.perf_counter() - self.host.started_at
        self.busy_label.setText(f"{self._busy_text}… {elapsed:.1f} s" if elapsed >= 0.3 else f"{self._busy_text}…")
