"""The Training dock: choose data and engine, set up a run, start it, steer it while it runs.

The runs, the current run and its worker belong to a
:class:`~core.session.session.TrainingSession`; the panel builds requests from its
widgets, sends typed controls, and shows what the session reports. The curves dock
only draws the runs.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PySide6.QtCore import QSettings, Qt, QTimer, Signal
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import (
    QComboBox,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from core.data import Dataset, DatasetError, builtin_names, load_builtin
from core.data.dataset import stratified_take
from core.data.store import installed, load_fetched
from core.errors import LayerwiseError
from core.graph.classifier import Classifier, find_classifier
from core.graph.document import NetworkDocument
from core.graph.fileformat import network_to_dict
from core.graph.validation import check_graph, validate
from core.session.job import RunOutcome, TrainingRequest
from core.torch_export.train_script import TrainingSetup
from core.training.augment import Augmenter, AugmentSettings
from core.training.controls import Pause, Resume, Stop, live_setting
from core.training.events import (
    BatchEnded,
    EpochEnded,
    SettingChanged,
    TrainingFinished,
    TrainingPaused,
    TrainingResumed,
    TrainingStarted,
)
from core.training.history import RunHistory, format_setting
from core.training.run_log import RunLogError
from gui.dialogs.dataset_download import DatasetDownloadDialog
from gui.dialogs.dataset_import import DatasetImportDialog
from gui.panels.run_log_follower import RunLogFollower
from gui.panels.training_curves import TrainingCurvesPanel
from gui.panels.training_settings import TrainingSettingsForm
from gui.widgets.dataset_preview import DatasetPreview
from gui.widgets.engine_chooser import EngineChooser
from gui.widgets.sample_grid import SampleGrid
from gui.workers.training_worker import TrainingWorker, WorkerMode

log = logging.getLogger(__name__)

REFRESH_INTERVAL_MS = 50
"""The plots and the progress bar are redrawn at most this often (20 Hz)."""
AUGMENT_PREVIEW_COUNT = 8
PROBE_SAMPLES, PROBES_PER_EPOCH = 128, 2
"""Activation distributions are measured on this many validation samples, this often per epoch."""
CLOSE_WAIT_SECONDS = 0.4
"""How long a closing window lets the worker finish its batch before ending it."""
ERROR_STYLE = "color: #b3261e"
BUILTIN_KIND = "builtin"
FILE_KIND = "file"
FETCHED_KIND = "fetched"
DOWNLOAD_ITEM = "download:"
"""The combo item that opens the download dialog instead of choosing a dataset."""


def network_input_shape(document: NetworkDocument) -> tuple[int, ...] | None:
    """The shape of the network's single Input layer, or ``None`` without exactly one."""
    inputs = [node for node in document.nodes if node.layer.is_network_input]
    if len(inputs) != 1:
        return None
    shape = inputs[0].layer.params.get("shape")
    return tuple(int(d) for d in shape) if isinstance(shape, (list, tuple)) else None


def format_duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


class DatasetChooser(QGroupBox):
    """Built-in datasets (made for the network's input shape), downloaded ones, imported files, and "Download…".

    Attributes
    ----------
    settings
        Where the download dialog keeps its mirror (the main window's settings), or ``None``.
    """

    dataset_changed = Signal()
    balanced_weights_requested = Signal()
    """The import dialog was accepted with "Use balanced class weights" ticked."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Dataset", parent)
        self.combo = QComboBox()
        self.combo.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        for name in builtin_names():
            self.combo.addItem(f"{name} (built-in)", f"{BUILTIN_KIND}:{name}")
        for stored in installed():
            self.combo.addItem(f"{stored.name} (downloaded)", f"{FETCHED_KIND}:{stored.name}")
        self.combo.addItem("Download…", DOWNLOAD_ITEM)
        self.combo.setItemData(
            self.combo.count() - 1,
            "MNIST, Fashion-MNIST, Kuzushiji-MNIST, CIFAR-10 and CIFAR-100: downloaded once, verified and kept.",
            Qt.ItemDataRole.ToolTipRole,
        )
        self.settings: QSettings | None = None
        self._previous_index = 0
        self.import_button = QPushButton("Import…")
        self.import_button.setToolTip(
            "Import MNIST/Fashion-MNIST IDX files, .npz, CIFAR-10 or CIFAR-100 batches or an image folder."
        )
        self.import_button.clicked.connect(self.choose_file)
        self.info = QLabel()
        self.info.setWordWrap(True)
        self.info.setStyleSheet(ERROR_STYLE)
        self.info.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.info.hide()
        self.preview = DatasetPreview()
        self.preview.setMinimumHeight(150)
        self.preview.setMaximumHeight(240)
        row = QHBoxLayout()
        row.addWidget(self.combo, 1)
        row.addWidget(self.import_button)
        layout = QVBoxLayout(self)
        layout.addLayout(row)
        layout.addWidget(self.info)
        layout.addWidget(self.preview)
        self._imported: dict[str, Dataset] = {}
        self._cache: dict[tuple[str, tuple[int, ...] | None], Dataset] = {}
        self._input_shape: tuple[int, ...] | None = None
        self._stale = True  # the preview is made when first seen: built-in sets take a moment to build
        self.combo.currentIndexChanged.connect(self._index_changed)

    def _index_changed(self, index: int) -> None:
        if self.combo.itemData(index) == DOWNLOAD_ITEM:
            # "Download…" is an action, not a dataset: go back to what was chosen, then open the dialog.
            self.combo.blockSignals(True)
            self.combo.setCurrentIndex(self._previous_index)
            self.combo.blockSignals(False)
            QTimer.singleShot(0, self.download)
            return
        self._previous_index = index
        self.refresh()

    def download(self, name: str = "") -> None:
        """Open the download dialog; a dataset it fetched is offered and selected."""
        chosen = DatasetDownloadDialog.choose(self, self.settings, name)
        if chosen is not None:
            self.add_fetched(*chosen)

    def add_fetched(self, name: str, dataset: Dataset) -> None:
        """Offer a downloaded dataset (already read) and select it."""
        self._cache[(f"{FETCHED_KIND}:{name}", None)] = dataset
        data = f"{FETCHED_KIND}:{name}"
        index = self.combo.findData(data)
        if index < 0:
            index = self.combo.findData(DOWNLOAD_ITEM)
            self.combo.insertItem(index, f"{name} (downloaded)", data)
        self.combo.setCurrentIndex(index)
        self.refresh()

    def set_input_shape(self, shape: tuple[int, ...] | None) -> None:
        if shape != self._input_shape:
            self._input_shape = shape
            self.refresh()

    def add_imported(self, dataset: Dataset, path: Path) -> None:
        """Offer an imported dataset and select it."""
        key = str(path)
        self._imported[key] = dataset
        index = self.combo.findData(f"{FILE_KIND}:{key}")
        if index < 0:
            self.combo.addItem(f"{path.name} ({len(dataset):,} samples)", f"{FILE_KIND}:{key}")
            index = self.combo.count() - 1
        self.combo.setCurrentIndex(index)
        self.refresh()

    def choose_file(self) -> None:
        chosen = DatasetImportDialog.choose(self, self.balanced_weights_requested.emit)
        if chosen is not None:
            dataset, path = chosen
            self.add_imported(dataset, path)

    def select_builtin(self, name: str) -> None:
        self.combo.setCurrentIndex(self.combo.findData(f"{BUILTIN_KIND}:{name}"))

    def choose_for(self, input_shape: tuple[int, ...] | None, classes: int | None) -> None:
        """Select the first built-in set that fits the network's input and class count."""
        for name in builtin_names():
            try:
                if self._fits(name, input_shape, classes):
                    self.select_builtin(name)
                    return
            except DatasetError:
                continue

    def _fits(self, name: str, input_shape: tuple[int, ...] | None, classes: int | None) -> bool:
        sample = load_builtin(name, input_shape=input_shape, n_samples=24)
        return classes is None or sample.num_classes == classes

    def dataset(self) -> Dataset:
        """The chosen dataset, made for the network's input when built in.

        Raises
        ------
        DatasetError
            When a built-in set cannot be made in the network's input shape.
        """
        kind, _, key = str(self.combo.currentData()).partition(":")
        if kind == FILE_KIND:
            return self._imported[key]
        if kind == FETCHED_KIND:
            return self._fetched(key)
        cache_key = (key, self._input_shape)
        if cache_key not in self._cache:
            self._cache[cache_key] = load_builtin(key, input_shape=self._input_shape)
        return self._cache[cache_key]

    def _fetched(self, name: str) -> Dataset:
        """A downloaded dataset, read once (MNIST takes about a second) and kept."""
        cache_key = (f"{FETCHED_KIND}:{name}", None)
        if cache_key not in self._cache:
            self._cache[cache_key] = load_fetched(name)
        return self._cache[cache_key]

    def class_count(self) -> tuple[str, int]:
        """The chosen dataset's name and class count, without building a whole built-in set for it.

        Raises
        ------
        DatasetError
            When a built-in set cannot be made in the network's input shape.
        """
        kind, _, key = str(self.combo.currentData()).partition(":")
        if kind == FILE_KIND:
            dataset = self._imported[key]
        elif kind == FETCHED_KIND:
            dataset = self._fetched(key)
        else:
            dataset = self._cache.get((key, self._input_shape)) or load_builtin(
                key, input_shape=self._input_shape, n_samples=24
            )
        return dataset.name, dataset.num_classes

    def refresh(self) -> None:
        """Show the chosen dataset (now if visible, else when first shown)."""
        self._stale = True
        if self.isVisible():
            self._show_dataset()
        self.dataset_changed.emit()

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if self._stale:
            self._show_dataset()

    def _show_dataset(self) -> None:
        self._stale = False
        try:
            dataset = self.dataset()
        except DatasetError as exc:
            self.info.setText(str(exc))
            self.info.show()
            self.preview.set_dataset(None)
        else:
            self.info.hide()
            self.preview.set_dataset(dataset, count=12)


class TrainingPanel(QWidget):
    """Dataset, settings, controls and progress of training.

    Signals
    -------
    weights_trained(dict)
        A run ended with weights for the network (``"layer/param"`` keys, by the
        layer names at the run's start).
    running_changed(bool)
    """

    weights_trained = Signal(dict)
    running_changed = Signal(bool)
    current_run_changed = Signal(object)
    """The run shown in full on the plots changed (a :class:`RunHistory` or ``None``)."""
    run_updated = Signal()
    """New events of the current run have been drawn (at most 20 times a second)."""
    message = Signal(str, bool)
    classifier_replacement_requested = Signal(object, int)
    """The user asked to resize the network's classifier (a :class:`Classifier`) for this many classes."""
    """Something for the status bar (the text, and whether it is an error): a followed run log's news."""

    def __init__(
        self, curves: TrainingCurvesPanel, worker_mode: WorkerMode = "process", parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.curves = curves
        self.document: NetworkDocument | None = None
        self.weights_provider: Callable[[], dict[str, np.ndarray] | None] = lambda: None
        """Returns the network's current weights (``"layer/param"`` keys), or ``None`` when untrained."""
        self._val: Dataset | None = None
        self._dirty = False
        self._started_at = 0.0
        self._progress_shown_at = 0.0
        self._progress = (0, 0, 0, 0)  # epoch, epochs, batch, batches
        self._paused = False
        self.followers: dict[int, RunLogFollower] = {}
        """The run logs being followed (or read), by ``id`` of their run."""

        self.curves.run_list.changed.connect(self._drop_removed_logs)
        self.worker = TrainingWorker(worker_mode, self)
        self.session = self.worker.session
        self.worker.events_arrived.connect(self._on_events)
        self.worker.outcome_arrived.connect(self._on_outcome)
        self.worker.start_failed.connect(self._on_failure)
        self.worker.idle.connect(lambda: self._set_running(False))

        self.chooser = DatasetChooser()
        self.engine = EngineChooser()
        self.form = TrainingSettingsForm()
        self.form.live_setting_changed.connect(self._live_setting)
        self.augment_preview = SampleGrid()
        self.augment_preview.setMinimumHeight(90)
        self.augment_group = QGroupBox("Augmented samples")
        self.augment_group.setFlat(True)
        preview_layout = QVBoxLayout(self.augment_group)
        preview_layout.addWidget(self.augment_preview)
        self.augment_group.setVisible(False)
        self.chooser.dataset_changed.connect(self._update_augment_preview)
        self.fit_notice = QLabel()
        self.fit_notice.setWordWrap(True)
        self.fit_notice.setStyleSheet(ERROR_STYLE)
        self.replace_button = QPushButton()
        self.replace_button.clicked.connect(self._request_classifier_replacement)
        self.fit_row = QWidget()
        fit_layout = QVBoxLayout(self.fit_row)
        fit_layout.setContentsMargins(0, 0, 0, 0)
        fit_layout.addWidget(self.fit_notice)
        fit_layout.addWidget(self.replace_button)
        self.fit_row.hide()
        self._replacement: tuple[Classifier, int] | None = None
        self.chooser.dataset_changed.connect(self._check_class_count)
        self.chooser.balanced_weights_requested.connect(self._use_balanced_weights)

        self.train_button = QPushButton("Train")
        self.train_button.setDefault(True)
        self.train_button.setToolTip("Train the network on the chosen dataset.")
        self.pause_button = QPushButton("Pause")
        self.stop_button = QPushButton("Stop")
        self.train_button.clicked.connect(self.start)
        self.pause_button.clicked.connect(self.toggle_pause)
        self.stop_button.clicked.connect(self.stop)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setValue(0)
        self.progress.setFormat("not started")
        self.progress.setTextVisible(True)
        self.status = QLabel("Choose a dataset and press Train.")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.weights_label = QLabel()
        self.weights_label.setWordWrap(True)

        buttons = QHBoxLayout()
        for button in (self.train_button, self.pause_button, self.stop_button):
            buttons.addWidget(button)
        controls = QGroupBox("Training")
        controls_layout = QVBoxLayout(controls)
        controls_layout.addWidget(self.engine)
        controls_layout.addLayout(buttons)
        controls_layout.addWidget(self.progress)
        controls_layout.addWidget(self.status)
        controls_layout.addWidget(self.weights_label)

        content = QWidget()
        column = QVBoxLayout(content)
        column.addWidget(controls)
        column.addWidget(self.chooser)
        self.chooser.layout().insertWidget(2, self.fit_row)  # under the choice and its message, above the preview
        column.addWidget(self.form)
        self.form.augment_extra.addWidget(self.augment_group)
        column.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(content)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(scroll)

        self._refresh_timer = QTimer(self)
        self._refresh_timer.setInterval(REFRESH_INTERVAL_MS)
        self._refresh_timer.timeout.connect(self.refresh)
        self.refresh_ticks = 0
        self._set_running(False)
        self._show_weights()

    # -- the session's runs -------------------------------------------------------------

    @property
    def runs(self) -> list[RunHistory]:
        """Every run shown and compared (the session's list, changed in place)."""
        return self.session.runs

    @property
    def current(self) -> RunHistory | None:
        """The run drawn in full."""
        return self.session.current

    @current.setter
    def current(self, run: RunHistory | None) -> None:
        self.session.current = run

    # -- the network -------------------------------------------------------------------

    def set_document(self, document: NetworkDocument) -> None:
        """Train ``document`` from now on; pick a dataset that fits it.

        Runs of the previous network go; runs read from logs stay.
        """
        self.document = document
        self.session.forget_network_runs()
        self.curves.set_runs(self.runs, None)
        self.curves.results.clear()
        self.current_run_changed.emit(None)
        shape = network_input_shape(document)
        self.chooser.set_input_shape(shape)
        self.chooser.choose_for(shape, self._output_classes())
        self._show_weights()

    def network_changed(self) -> None:
        """Follow an edit of the network (its input shape may have changed)."""
        if self.document is not None:
            self.chooser.set_input_shape(network_input_shape(self.document))
            self._check_class_count()

    def _check_class_count(self) -> None:
        """Offer to replace the classifier when the chosen dataset has another number of classes."""
        self._replacement = None
        self.fit_row.hide()
        if self.document is None:
            return
        try:
            name, classes = self.chooser.class_count()
        except DatasetError:
            return  # the chooser says why already
        head = find_classifier(self.document)
        outputs = head.classes if head is not None else self._output_classes()
        if outputs is None or outputs == classes:
            return
        text = f"The network outputs {outputs} class scores, but {name!r} has {classes} classes."
        if head is None:
            self.fit_notice.setText(f"{text} No Dense or 1×1-convolution classifier was found to resize.")
            self.replace_button.hide()
        else:
            self._replacement = (head, classes)
            self.fit_notice.setText(f"{text} Its classifier {head.name!r} can start afresh for {classes} classes.")
            self.replace_button.setText(f"Replace classifier for {classes} classes")
            self.replace_button.setToolTip(
                f"Set {head.name}.{head.param} to {classes} (undoable): that layer gets fresh weights, every "
                "layer before it keeps its own — transfer learning's usual first step."
            )
            self.replace_button.show()
        self.fit_row.show()

    def _use_balanced_weights(self) -> None:
        box = self.form.recipe.class_weights
        box.setCurrentIndex(box.findData("balanced"))

    def _request_classifier_replacement(self) -> None:
        if self._replacement is not None and not self.is_training:
            self.classifier_replacement_requested.emit(*self._replacement)

    def _output_classes(self) -> int | None:
        """Units of the network's single output vector, or ``None`` when there is no such output."""
        if self.document is None:
            return None
        sinks = [node for node in self.document.nodes if not self.document.output_edges(node.id)]
        single = len(sinks) == 1 and sinks[0].layer.output_count == 1  # the engine's rule for an output
        shape = check_graph(self.document).shapes.get(sinks[0].id) if single else None
        return int(shape[0]) if shape is not None and len(shape) == 1 else None

    def _show_weights(self) -> None:
        if not self.weights_provider():
            self.weights_label.setText("Weights: not trained yet (runs start from fresh weights).")
            return
        run = next((r for r in reversed(self.runs) if r.finished is not None and r.epochs and not r.source), None)
        detail = ""
        if run is not None and run.has_validation:
            best = np.nanmax(run.val_accuracy)
            detail = f" — last run {run.name!r}, best validation accuracy {best:.3f}"
        self.weights_label.setText(f"Weights: trained{detail}. Saved with the network.")

    def restore_runs(self, runs: list[RunHistory]) -> None:
        """Show runs kept from an earlier session (e.g. a recovery file)."""
        self.runs[:] = runs
        self.current = runs[-1] if runs else None
        self.session.counter = max(self.session.counter, len(runs))
        self.curves.set_runs(self.runs, self.current)
        self.current_run_changed.emit(self.current)
        self._show_weights()

    # -- starting and steering ---------------------------------------------------------

    @property
    def is_training(self) -> bool:
        return self.worker.running

    def start(self) -> bool:
        """Start a run with the form's settings; say why when it cannot start."""
        if self.is_training or self.document is None:
            return False
        problems = validate(self.document)
        if problems:
            self._say(f"The network has problems; fix them first: {problems[0].message}", error=True)
            return False
        try:
            request = self._request()
        except LayerwiseError as exc:
            self._say(str(exc), error=True)
            return False
        self._val = request.val if isinstance(request.val, Dataset) else None
        run = self.worker.start(request)
        if run is None:
            return False
        self.curves.set_runs(self.runs, run)
        self.current_run_changed.emit(run)
        self.curves.results.clear()
        self._progress = (0, request.config.epochs, 0, 0)
        self._paused = False
        self._started_at = time.perf_counter()
        own_val = self.chooser.dataset().val
        if own_val is not None and request.val is own_val:
            self._say(
                f"Starting ({request.engine.label}); validation: the folder's val/ split ({len(own_val):,} samples)…"
            )
        else:
            self._say(f"Starting ({request.engine.label})…")
        self._set_running(True)
        return True

    def _request(self) -> TrainingRequest:
        assert self.document is not None
        config = dataclasses.replace(self.form.config(), probe_samples=PROBE_SAMPLES, probes_per_epoch=PROBES_PER_EPOCH)
        config.validate()
        train, val = self._split_data()
        weights = self.weights_provider() if self.form.start_from_current() else None
        return TrainingRequest(network_to_dict(self.document), train, val, config, weights, self.engine.choice())

    def _split_data(self) -> tuple[Dataset, Dataset]:
        """The chosen dataset's training and validation parts as a run uses them (the subset taken).

        A dataset with a validation split of its own (an image folder's ``val/``) validates on it.
        """
        dataset = self.chooser.dataset()
        data = self.form.data_settings()
        if dataset.val is not None:
            train, val = Dataset(dataset.name, dataset.x, dataset.y, list(dataset.class_names)), dataset.val
        else:
            train, val = dataset.split(data.val_fraction, data.seed)
        if data.subset and data.subset < len(train):
            train = train.subset(stratified_take(train.y, data.subset, np.random.default_rng(data.seed)))
        return train, val

    def torch_setup(self) -> TrainingSetup:
        """The dock's settings and data, as an exported ``train.py`` reproduces them.

        Raises
        ------
        LayerwiseError
            A setting out of range, or a dataset that cannot be made.
        """
        return self._request().torch_setup(self.form.data_settings().val_fraction)

    def toggle_pause(self) -> None:
        if not self.is_training:
            return
        self.worker.control(Resume() if self._paused else Pause())

    def stop(self) -> None:
        if self.is_training:
            self.worker.control(Stop())
            self._say("Stopping after this batch…")

    def stop_and_wait(self, timeout: float = 2.0) -> None:
        """Stop the run now and keep what it reported (used before the network is edited)."""
        if not self.is_training:
            return
        self.worker.control(Stop())
        deadline = time.perf_counter() + timeout
        while self.is_training and time.perf_counter() < deadline:
            self.worker.poll()
            time.sleep(0.01)
        if self.is_training:
            self.worker.shutdown(1.0)
            self._set_running(False)
        self.refresh()

    def shutdown(self) -> bool:
        """Stop any run at once (the window is closing): a batch in flight is not waited for long."""
        self._refresh_timer.stop()
        for follower in self.followers.values():
            follower.stop()
        return self.worker.shutdown(CLOSE_WAIT_SECONDS)

    def _live_setting(self, name: str, value: object) -> None:
        if not self.is_training:
            if name == "augment":
                self._update_augment_preview()
            return
        self.worker.control(live_setting(name, value))
        if name == "augment":
            self._update_augment_preview()

    # -- run logs ---------------------------------------------------------------------------

    def open_run_log(self, path: str | Path) -> bool:
        """Read the run log at ``path`` into a run and follow it while it grows; say why when it cannot.

        The run joins the others for comparison, labelled with the run's name in the log
        or the file's name. Without a run of the app's own in progress it becomes the
        current run, drawn in full with its markers.
        """
        path = Path(path)
        for run in self.runs:
            if run.source and Path(run.source) == path.absolute():
                self.message.emit(f"{path.name} is already open as {run.name!r}.", False)
                return False
        if not path.is_file():
            self.message.emit(f"Cannot open run log {path}: no such file", True)
            return False
        run = RunHistory(name=path.name, source=str(path.absolute()))
        follower = RunLogFollower(path, run, self)
        try:
            update = follower.start()
        except RunLogError as exc:
            follower.stop()
            self.message.emit(f"Cannot open run log: {exc}", True)
            return False
        if update.error is not None and not update.events:
            follower.stop()
            self.message.emit(f"Cannot open run log: {update.error}", True)
            return False
        self.followers[id(run)] = follower
        follower.updated.connect(lambda restarted, r=run: self._log_updated(r, restarted))
        follower.state_changed.connect(lambda r=run: self._show_follow_state(r))
        follower.message.connect(self.message)
        self.runs.append(run)
        self._name_apart(run)
        if not self.is_training:
            self.current = run
        self.curves.set_runs(self.runs, self.current)
        self._show_follow_state(run)
        self.message.emit(*self._opened_message(follower))
        return True

    @staticmethod
    def _opened_message(follower: RunLogFollower) -> tuple[str, bool]:
        """What to say once a log is opened: followed, finished already, or read up to a bad line."""
        run, epochs = follower.run, len(follower.run.epochs)
        read = f"Opened {run.name}: {epochs} epoch{'s' if epochs != 1 else ''}"
        if follower.error is not None:
            return f"{read}, then stopped: {follower.error}", True
        if run.finished is not None:
            return f"{read}, finished ({run.finished.message}).", False
        return f"Following {follower.path}: its curves grow as the run writes it.", False

    def _drop_removed_logs(self) -> None:
        """Stop following the logs whose runs were removed from the list."""
        present = {id(run) for run in self.runs}
        for key in [key for key in self.followers if key not in present]:
            follower = self.followers.pop(key)
            follower.stop()
            follower.deleteLater()

    def _listed(self, run: RunHistory) -> bool:
        """Whether ``run`` itself (not an equal one) is in the list of runs."""
        return any(other is run for other in self.runs)

    def _log_updated(self, run: RunHistory, restarted: bool) -> None:
        if not self._listed(run):
            self._drop_removed_logs()
            return
        self._name_apart(run)
        if restarted:
            self.curves.set_runs(self.runs, self.current)
        else:
            self.curves.refresh_run(run)

    def _name_apart(self, run: RunHistory) -> None:
        """Add the log's file name to ``run``'s name when another run has that name already."""
        file_name = Path(run.source).name
        if file_name not in run.name and any(other.name == run.name for other in self.runs if other is not run):
            run.name = f"{run.name} ({file_name})"
            self.curves.set_runs(self.runs, self.current)

    def _show_follow_state(self, run: RunHistory) -> None:
        follower = self.followers.get(id(run))
        if follower is not None and self._listed(run):
            self.curves.set_run_status(run, follower.status, follower.describe())

    # -- what the worker reports ----------------------------------------------------------

    def _on_events(self, events: list) -> None:
        run = self.current
        if run is None:
            return
        for event in events:  # the session has filed them into the run
            if isinstance(event, TrainingStarted):
                self._progress = (0, event.epochs, 0, event.batches_per_epoch)
                self._started_at = time.perf_counter()
                self._say(f"Training on {event.train_samples:,} samples, validating on {event.val_samples:,}.")
            elif isinstance(event, BatchEnded):
                self._progress = (event.epoch, self._progress[1], event.batch, event.batches)
            elif isinstance(event, EpochEnded):
                val = f", val acc {event.val_accuracy:.3f}" if event.val_accuracy is not None else ""
                self._say(f"Epoch {event.epoch}: loss {event.train_loss:.4f}{val}")
            elif isinstance(event, SettingChanged):
                self._say(f"{format_setting(event.setting, event.new)} from epoch {event.epoch}, batch {event.batch}.")
            elif isinstance(event, TrainingPaused):
                self._paused = True
                self.pause_button.setText("Resume")
                self._say(f"Paused in epoch {event.epoch}.")
            elif isinstance(event, TrainingResumed):
                self._paused = False
                self.pause_button.setText("Pause")
            elif isinstance(event, TrainingFinished):
                self._say(event.message, error=event.reason in ("failed", "diverged"))
        self._dirty = True

    def _on_outcome(self, outcome: RunOutcome) -> None:
        self.refresh()
        self.curves.set_runs(self.runs, self.current)  # the session has named the run
        if outcome.finished.reason != "failed":
            self.weights_trained.emit(outcome.weights)
        self._show_results(outcome)
        self._show_weights()

    def _show_results(self, outcome: RunOutcome) -> None:
        val = self._val
        if val is None or outcome.val_predicted is None:
            return
        self.curves.results.set_results(
            val.x,
            val.y,
            outcome.val_predicted,
            outcome.val_confidence,
            list(val.class_names),
            title=self.current.name if self.current else "",
        )

    def _on_failure(self, message: str) -> None:
        self._say(message, error=True)
        if self.current is None:  # the session dropped a run that never started
            self.curves.set_runs(self.runs, None)
            self.current_run_changed.emit(None)

    # -- display --------------------------------------------------------------------

    def _set_running(self, running: bool) -> None:
        self.train_button.setEnabled(not running)
        self.pause_button.setEnabled(running)
        self.stop_button.setEnabled(running)
        self.chooser.setEnabled(not running)
        self.replace_button.setEnabled(not running)
        self.engine.set_running(running)
        self.form.set_running(running)
        if not running:
            self.pause_button.setText("Pause")
            self._paused = False
            self._refresh_timer.stop()
            self.refresh()
            self._show_progress()
        else:
            self._refresh_timer.start()
        self.running_changed.emit(running)

    def refresh(self) -> None:
        """Redraw curves and progress when something arrived since the last time.

        Without news only the time left moves, once a second: an idle tick costs nothing.
        """
        self.refresh_ticks += 1
        now = time.perf_counter()
        if not self._dirty:
            if now - self._progress_shown_at >= 1.0:
                self._show_progress()
                self._progress_shown_at = now
            return
        self._dirty = False
        self._show_progress()
        self._progress_shown_at = now
        self.curves.refresh()
        self.run_updated.emit()

    def _show_progress(self) -> None:
        epoch, epochs, batch, batches = self._progress
        if not epochs or not batches or self.current is None or self.current.source:
            return
        done = ((epoch - 1) * batches + batch) / (epochs * batches) if epoch else 0.0
        self.progress.setValue(int(done * 1000))
        text = f"epoch {epoch}/{epochs} · batch {batch}/{batches}"
        if self.is_training and 0 < done < 1:
            elapsed = time.perf_counter() - self._started_at
            text += f" · {format_duration(elapsed * (1 - done) / done)} left"
        elif not self.is_training and self.current.finished is not None:
            text = f"{self.current.finished.reason.replace('_', ' ')} · {text}"
        self.progress.setFormat(text)

    def _say(self, text: str, error: bool = False) -> None:
        self.status.setText(text)
        self.status.setStyleSheet(ERROR_STYLE if error else "")

    def _update_augment_preview(self) -> None:
        kinds = self.form.augment_kinds()
        if not kinds or not self.isVisible():
            self.augment_group.setVisible(False)
            return
        try:
            dataset = self.chooser.dataset()
        except DatasetError:
            dataset = None
        if dataset is None or dataset.x.ndim != 4:
            self.augment_group.setVisible(False)
            return
        rng = np.random.default_rng(len(self.runs))
        index = stratified_take(dataset.y, min(AUGMENT_PREVIEW_COUNT, len(dataset)), rng)
        augmenter = Augmenter(AugmentSettings(kinds=kinds))
        if "sample" in kinds:
            augmenter.fit(dataset.x, dataset.y)
        try:
            x, y = augmenter.apply(dataset.x[index], dataset.y[index], rng)
        except LayerwiseError as exc:
            self.augment_preview.clear()
            self.augment_preview.set_placeholder(str(exc))
        else:
            self.augment_preview.set_samples(np.clip(x, 0, 1), [dataset.class_names[int(label)] for label in y])
        self.augment_group.setVisible(True)
