"""The main window: the canvas, its docks, menus, files and the undo stack."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from PySide6.QtCore import QByteArray, QMimeData, QSettings, Qt, QTimer
from PySide6.QtGui import QAction, QCloseEvent, QIcon, QKeySequence, QShowEvent, QUndoCommand
from PySide6.QtWidgets import (
    QApplication,
    QDockWidget,
    QFileDialog,
    QInputDialog,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QMessageBox,
    QWidget,
)

from core.engine.model import Model
from core.engine.network_weights import NetworkWeights, weights_path_for
from core.errors import LayerwiseError
from core.examples import RESOURCES_DIR, example_names, example_path
from core.graph.classifier import Classifier
from core.graph.document import NetworkDocument
from core.graph.fileformat import (
    FORMAT_ID,
    FORMAT_VERSION,
    input_reference,
    load_network,
    network_from_dict,
    network_to_dict,
    save_network,
)
from core.graph.layout import layered_positions
from core.graph.validation import validate
from core.layers.preprocessing import imagenet_preprocessing
from core.recovery import RecoverySnapshot
from gui.canvas.scene import NetworkScene
from gui.canvas.view import NetworkView
from gui.commands import InsertFragmentCommand, MoveNodesCommand, ReplaceClassifierCommand, SetParamsCommand
from gui.error_handler import user_data_dir
from gui.inside.inside_panel import InsidePanel
from gui.panels.inspector import InspectorPanel
from gui.panels.palette import PaletteWidget
from gui.panels.param_editors import parse_shape
from gui.panels.summary_panel import SummaryPanel
from gui.panels.training_curves import TrainingCurvesPanel
from gui.panels.training_panel import TrainingPanel
from gui.recovery import Autosaver
from gui.undo import GuardedUndoStack
from gui.widgets.minimum_scroll_area import MinimumScrollArea
from gui.workers.training_worker import WorkerMode

if TYPE_CHECKING:  # importing onnx costs a second at start; the importer is loaded when used
    from core.onnx_io.importer import OpenInputSizes

log = logging.getLogger(__name__)

APP_NAME = "Layerwise"
NETWORK_FILTER = "Layerwise networks (*.json);;All files (*)"
RUN_LOG_FILTER = "Run logs (*.jsonl *.json *.log);;All files (*)"
CLIPBOARD_MIME = "application/x-layerwise-layers"
TEMPLATES = (
    "lenet5",
    "mlp",
    "vgg16",
    "inception_block",
    "resnet_block",
    "squeezenet_fire",
    "unet_small",
    "conv_autoencoder",
    "mobilenet_cifar",
)
BLOCKS = {
    "Inception block": "inception_block",
    "ResNet block": "resnet_block",
    "Fire module": "squeezenet_fire",
    "Depthwise-separable conv": "depthwise_separable",
    "MobileNetV2 inverted residual": "inverted_residual",
    "Squeeze-and-Excitation": "se_block",
    "EfficientNet MBConv": "mbconv",
    "ConvNeXt block": "convnext_block",
    "ShuffleNetV2 unit": "shufflenet_unit",
    "ShuffleNetV2 down-sampling unit": "shufflenet_unit_down",
    "U-Net (small)": "unet_small",
    "Convolutional autoencoder": "conv_autoencoder",
}
MAX_RECENT = 8
_NOT_IN_FILE_NAMES = re.compile(r'[\x00-\x1f\x7f<>:"/\\|?*]')
"""Characters some file system refuses in a file name, path separators among them."""
PASTE_OFFSET = 40.0
SIDE_DOCK_WIDTHS = (220, 360)
"""Default widths of the layer palette (left) and the inspector (right), in pixels."""
BOTTOM_DOCK_SHARE = 0.24
"""Default share of the window's height for the bottom docks; the canvas keeps the rest."""
MIN_BOTTOM_DOCK_HEIGHT = 160
"""Least default height of the bottom docks, in pixels (a small window)."""
ROOMY_DOCK_SHARE = 0.45
"""Most of the window's height a bottom tab that needs room (See inside) takes when raised."""
IMPORT_NOTES_LISTED = 8
"""Import notes the message lists itself; all of them are in its details."""
USE_IMAGENET = "Use ImageNet preprocessing"
"""The import message's button that sets an imported RGB network's Input to ImageNet's preprocessing."""
IMAGENET_OFFER = (
    "torchvision and most exported ImageNet models expect mean/std-normalised input, but this model carries no "
    "preprocessing: the network now expects raw RGB pixels in 0..1."
)
BAKE_PREPROCESSING = "Bake into the graph"
METADATA_ONLY = "Metadata only"


def release_clipboard(*_args: object) -> None:
    """Drop our copied layers from the clipboard.

    The clipboard owns the QMimeData we give it; destroying that during interpreter
    shutdown crashes, so it is released while the application still runs.
    """
    clipboard = QApplication.clipboard()
    if clipboard is not None and clipboard.mimeData() is not None and clipboard.mimeData().hasFormat(CLIPBOARD_MIME):
        clipboard.clear()


def release_clipboard_at_exit() -> None:
    """Release the clipboard when the application quits (connected once)."""
    app = QApplication.instance()
    if app is not None and not app.property("layerwise_releases_clipboard"):
        app.setProperty("layerwise_releases_clipboard", True)
        app.aboutToQuit.connect(release_clipboard)


def _input_name(item: object) -> str | None:
    """The layer an item of a fragment's ``"inputs"`` names; ``None`` for a malformed item (refused later)."""
    try:
        return input_reference(item)[0]
    except ValueError:
        return None


def fragment_of(document: NetworkDocument, node_ids: list[str]) -> dict:
    """The selected layers in the file's layer format (inputs limited to the selection)."""
    data = network_to_dict(document)
    chosen = {document.node(i).name for i in node_ids}
    layers = [layer for layer in data["layers"] if layer["name"] in chosen]
    for layer in layers:
        layer["inputs"] = [item for item in layer["inputs"] if input_reference(item)[0] in chosen]
    return {"layers": layers}


class MainWindow(QMainWindow):
    """One window per open network."""

    open_windows: ClassVar[set[MainWindow]] = set()
    """Windows opened with File → New Window, kept alive until closed."""

    def __init__(
        self, settings: QSettings | None = None, worker_mode: WorkerMode = "process", data_dir: Path | None = None
    ) -> None:
        super().__init__()
        self.settings = settings or QSettings()
        self.data_dir = data_dir or user_data_dir()
        self.path: Path | None = None
        self.document = NetworkDocument()
        self.weights = NetworkWeights()
        self.weights_modified = False
        self._shown_once = False
        self._layout_restored = False
        self.import_notes_box: QMessageBox | None = None
        """The message that lists the last import's notes, while it is open."""
        self.undo_stack = GuardedUndoStack(self)
        self.undo_stack.guard = self._allow_edit
        self.setWindowIcon(QIcon(str(RESOURCES_DIR / "icons" / "layerwise.svg")))
        self.resize(1440, 900)

        self.scene = NetworkScene(self.document, self.undo_stack, self)
        self.view = NetworkView(self.scene, self)
        self.setCentralWidget(self.view)
        self.palette_panel = PaletteWidget()
        self.inspector = InspectorPanel()
        self.summary_panel = SummaryPanel()
        self.problems = QListWidget()
        self.curves_panel = TrainingCurvesPanel()
        self.training_panel = TrainingPanel(self.curves_panel, worker_mode)
        self.training_panel.weights_provider = lambda: self.weights.state_dict(self.document) or None
        self.training_panel.chooser.settings = self.settings  # the download dialog keeps its mirror there
        self.inside_panel = InsidePanel(worker_mode=worker_mode)
        self.palette_dock = self._dock("Layers", self.palette_panel, Qt.DockWidgetArea.LeftDockWidgetArea)
        self.inspector_dock = self._dock("Inspector", self.inspector, Qt.DockWidgetArea.RightDockWidgetArea)
        self.problems_dock = self._dock("Problems", self.problems, Qt.DockWidgetArea.BottomDockWidgetArea)
        self.summary_dock = self._dock("Summary", self.summary_panel, Qt.DockWidgetArea.BottomDockWidgetArea)
        self.training_dock = self._dock("Training", self.training_panel, Qt.DockWidgetArea.RightDockWidgetArea)
        # Scrolled, so that their minimum sizes do not hold the bottom docks (and the canvas) at their height.
        self.curves_dock = self._dock(
            "Training curves", self.curves_panel, Qt.DockWidgetArea.BottomDockWidgetArea, scrolled=True
        )
        self.inside_dock = self._dock(
            "See inside", self.inside_panel, Qt.DockWidgetArea.BottomDockWidgetArea, scrolled=True
        )
        self.tabifyDockWidget(self.problems_dock, self.summary_dock)
        self.tabifyDockWidget(self.summary_dock, self.curves_dock)
        self.tabifyDockWidget(self.curves_dock, self.inside_dock)
        self.tabifyDockWidget(self.inspector_dock, self.training_dock)
        self.problems_dock.raise_()
        self.inspector_dock.raise_()
        for dock in (self.curves_dock, self.inside_dock):
            dock.visibilityChanged.connect(lambda visible, d=dock: visible and self._make_room_for(d))
        self.training_panel.weights_trained.connect(self._weights_trained)
        self.training_panel.running_changed.connect(self._training_running)
        self.training_panel.classifier_replacement_requested.connect(self.replace_classifier)
        # After _weights_trained, so that the provider already returns the new weights.
        self.training_panel.weights_trained.connect(lambda _state: self.inside_panel.weights_changed())
        self.training_panel.chooser.dataset_changed.connect(self.inside_panel.dataset_changed)
        self.training_panel.current_run_changed.connect(self.inside_panel.set_run)
        self.inside_panel.activations.engine_provider = self.training_panel.engine.choice
        self.training_panel.run_updated.connect(self.inside_panel.run_updated)
        self.training_panel.message.connect(
            lambda text, error: self.statusBar().showMessage(text, 20000 if error else 8000)
        )

        self.palette_panel.layer_activated.connect(self._add_at_centre)
        self.scene.selection_changed_ids.connect(self.inspector.set_selection)
        self.scene.selection_changed_ids.connect(
            lambda ids: self.inside_panel.select_layer(ids[0] if len(ids) == 1 else None)
        )
        self.scene.connection_refused.connect(
            lambda reason: self.statusBar().showMessage(f"Cannot connect: {reason}", 6000)
        )
        self.problems.itemDoubleClicked.connect(self._select_problem)
        self.undo_stack.cleanChanged.connect(lambda _clean: self._refresh_modified())
        self.undo_stack.indexChanged.connect(lambda _index: self._refresh_problems())
        self.undo_stack.indexChanged.connect(lambda _index: self.training_panel.network_changed())
        self.undo_stack.indexChanged.connect(lambda _index: self.inside_panel.network_changed())
        self._build_menus()
        self._restore_layout()
        self.set_document(self.document, None)
        self.autosaver = Autosaver(self.data_dir, self._recovery_snapshot, self._recovery_state, self)
        # Connected after the panel's own slot: the finished run is in its list by then.
        self.training_panel.worker.outcome_arrived.connect(lambda _outcome: self.autosaver.save_now())

    def _dock(self, title: str, widget: QWidget, area: Qt.DockWidgetArea, scrolled: bool = False) -> QDockWidget:
        """Dock ``widget`` in ``area``; ``scrolled`` puts it in a scroll area when the dock is smaller."""
        dock = QDockWidget(title, self)
        dock.setObjectName(f"{title.lower()}_dock")
        if scrolled:
            widget = MinimumScrollArea(widget)
        dock.setWidget(widget)
        self.addDockWidget(area, dock)
        return dock

    def apply_default_layout(self) -> None:
        """Size the docks so that the canvas has most of the window.

        The palette and the inspector get :data:`SIDE_DOCK_WIDTHS`, the bottom docks
        :data:`BOTTOM_DOCK_SHARE` of the height. Applied when the window first shows
        without a saved layout.
        """
        self.resizeDocks([self.palette_dock, self.inspector_dock], list(SIDE_DOCK_WIDTHS), Qt.Orientation.Horizontal)
        bottom = max(MIN_BOTTOM_DOCK_HEIGHT, round(self.height() * BOTTOM_DOCK_SHARE))
        self.resizeDocks([self.problems_dock], [bottom], Qt.Orientation.Vertical)

    def _make_room_for(self, dock: QDockWidget) -> None:
        """Grow the bottom docks when ``dock``, a tab that needs room, is raised in a short area.

        Up to :data:`ROOMY_DOCK_SHARE` of the window; the rest stays scrollable.
        """
        if not self._shown_once or dock.isFloating():
            return
        if self.dockWidgetArea(dock) != Qt.DockWidgetArea.BottomDockWidgetArea:
            return
        scroll = dock.widget()
        if not isinstance(scroll, MinimumScrollArea):
            return
        # The area's height counts the tab bar under the dock too.
        below = self.statusBar().geometry().top() if self.statusBar().isVisible() else self.height()
        area = max(dock.height(), below - dock.geometry().top())
        wanted = min(
            area - scroll.height() + scroll.minimum_content_size().height(),
            round(self.height() * ROOMY_DOCK_SHARE),
        )
        if area < wanted:
            self.resizeDocks([dock], [wanted], Qt.Orientation.Vertical)

    # -- menus -------------------------------------------------------------------------

    def _action(self, menu, text: str, slot, shortcut=None) -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(shortcut)
        action.triggered.connect(slot)
        menu.addAction(action)
        return action

    def _build_menus(self) -> None:
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        self._action(file_menu, "&New", self.new_network, QKeySequence.StandardKey.New)
        self._action(file_menu, "New &Window", self.new_window, QKeySequence("Ctrl+Shift+N"))
        templates = file_menu.addMenu("New from &Template")
        for name in TEMPLATES:
            self._action(
                templates, load_network(example_path(name)).name, lambda _=False, n=name: self.new_from_template(n)
            )
        self._action(file_menu, "&Open…", self.choose_and_open, QKeySequence.StandardKey.Open)
        self.recent_menu = file_menu.addMenu("Open &Recent")
        examples = file_menu.addMenu("Open &Example")
        for name in example_names():
            self._action(
                examples,
                load_network(example_path(name)).name,
                lambda _=False, n=name: self.open_network(example_path(n)),
            )
        self._action(file_menu, "Open Run &Log…", self.choose_run_log)
        file_menu.addSeparator()
        self._action(file_menu, "&Save", self.save, QKeySequence.StandardKey.Save)
        self._action(file_menu, "Save &As…", self.save_as, QKeySequence.StandardKey.SaveAs)
        file_menu.addSeparator()
        self._action(file_menu, "&Import ONNX…", self.import_onnx)
        self._action(file_menu, "&Export ONNX…", self.export_onnx)
        self.export_pytorch_action = self._action(file_menu, "Export &PyTorch Project…", self.export_pytorch)
        self._action(file_menu, "Import &Dataset…", self.import_dataset)
        file_menu.addSeparator()
        self._action(file_menu, "&Quit", self.close, QKeySequence.StandardKey.Quit)

        edit = bar.addMenu("&Edit")
        # Own actions rather than createUndoAction: those bypass the guard.
        undo = self._action(edit, "&Undo", self.undo_stack.undo, QKeySequence.StandardKey.Undo)
        redo = self._action(edit, "&Redo", self.undo_stack.redo)
        redo.setShortcuts([QKeySequence("Ctrl+Shift+Z"), QKeySequence.StandardKey.Redo])
        for action, can, text, verb in (
            (undo, self.undo_stack.canUndoChanged, self.undo_stack.undoTextChanged, "&Undo"),
            (redo, self.undo_stack.canRedoChanged, self.undo_stack.redoTextChanged, "&Redo"),
        ):
            action.setEnabled(False)
            can.connect(action.setEnabled)
            text.connect(lambda t, a=action, v=verb: a.setText(f"{v} {t}".strip()))
        edit.addSeparator()
        self._action(edit, "Cu&t", self.cut, QKeySequence.StandardKey.Cut)
        self._action(edit, "&Copy", self.copy, QKeySequence.StandardKey.Copy)
        self._action(edit, "&Paste", self.paste, QKeySequence.StandardKey.Paste)
        self._action(edit, "&Duplicate", self.duplicate, QKeySequence("Ctrl+D"))
        self._action(edit, "De&lete", self.scene.delete_selection, QKeySequence.StandardKey.Delete)
        self._action(edit, "Select &All", self._select_all, QKeySequence.StandardKey.SelectAll)

        view = bar.addMenu("&View")
        self._action(view, "Zoom &In", lambda: self.view.zoom_by(1.25), QKeySequence.StandardKey.ZoomIn)
        self._action(view, "Zoom &Out", lambda: self.view.zoom_by(0.8), QKeySequence.StandardKey.ZoomOut)
        self._action(view, "&Fit to View", self.view.fit_all, QKeySequence("Ctrl+0"))
        self._action(view, "Auto &Layout", self.auto_layout, QKeySequence("Ctrl+L"))
        view.addSeparator()
        for dock in (
            self.palette_dock,
            self.inspector_dock,
            self.summary_dock,
            self.problems_dock,
            self.training_dock,
            self.curves_dock,
            self.inside_dock,
        ):
            view.addAction(dock.toggleViewAction())

        insert = bar.addMenu("&Insert")
        blocks = insert.addMenu("&Block")
        for title, name in BLOCKS.items():
            self._action(blocks, title, lambda _=False, n=name, t=title: self.insert_block(n, t))

        help_menu = bar.addMenu("&Help")
        self._action(help_menu, "&About Layerwise", self.show_about)
        self._update_recent_menu()

    # -- documents ---------------------------------------------------------------------

    def set_document(self, document: NetworkDocument, path: Path | None, weights: NetworkWeights | None = None) -> None:
        self.training_panel.stop_and_wait()
        self.document, self.path = document, path
        self.weights = weights or NetworkWeights()
        self.weights_modified = False
        self.undo_stack.clear()
        self.scene.set_document(document)
        self.inspector.set_context(document, self.undo_stack)
        self.inspector.set_selection([])
        self.summary_panel.set_document(document)
        self.training_panel.set_document(document)
        self.inside_panel.set_context(
            document, lambda: self.weights.state_dict(self.document) or None, self.training_panel.chooser.dataset
        )
        document.subscribe(lambda _event: self._refresh_title())
        self._refresh_title()
        self._refresh_problems()
        self.setWindowModified(False)
        self.view.fit_all(readable=True)

    def _refresh_modified(self) -> None:
        self.setWindowModified(not self.undo_stack.isClean() or self.weights_modified)

    def _refresh_title(self) -> None:
        where = self.path.name if self.path else "untitled"
        self.setWindowTitle(f"{self.document.name} — {where}[*] — {APP_NAME}")

    def _refresh_problems(self) -> None:
        self.problems.clear()
        for problem in validate(self.document):
            item = QListWidgetItem(str(problem))
            item.setData(Qt.ItemDataRole.UserRole, problem.node_id)
            item.setForeground(Qt.GlobalColor.darkRed)
            self.problems.addItem(item)
        count = self.problems.count()
        if not count:
            item = QListWidgetItem("No problems: every layer computes.")
            item.setFlags(Qt.ItemFlag.NoItemFlags)
            self.problems.addItem(item)
        self.problems_dock.setWindowTitle(f"Problems ({count})" if count else "Problems")

    def _select_problem(self, item: QListWidgetItem) -> None:
        node_id = item.data(Qt.ItemDataRole.UserRole)
        node_item = self.scene.node_items.get(node_id or "")
        if node_item is not None:
            self.scene.clearSelection()
            node_item.setSelected(True)
            self.view.centerOn(node_item)

    def maybe_save(self) -> bool:
        """Ask about unsaved changes; return whether the caller may go on."""
        if self.undo_stack.isClean() and not self.weights_modified:
            return True
        answer = QMessageBox.question(
            self,
            "Unsaved changes",
            f"Save the changes to {self.document.name!r}?",
            QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard | QMessageBox.StandardButton.Cancel,
        )
        if answer == QMessageBox.StandardButton.Save:
            return self.save()
        return answer == QMessageBox.StandardButton.Discard

    def new_network(self) -> None:
        if self.maybe_save():
            self.set_document(NetworkDocument(), None)

    def new_window(self) -> MainWindow:
        """Open another window (copy and paste work between windows)."""
        window = MainWindow(self.settings)
        window.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        MainWindow.open_windows.add(window)
        window.destroyed.connect(lambda _=None, w=window: MainWindow.open_windows.discard(w))
        window.show()
        return window

    def new_from_template(self, name: str) -> None:
        if self.maybe_save():
            document = load_network(example_path(name))
            self.set_document(document, None)
            self.undo_stack.resetClean()  # a template is unsaved work

    def open_network(self, path: str | Path) -> bool:
        """Open ``path``; on failure say why and keep the current network."""
        path = Path(path)
        if not self.maybe_save():
            return False
        try:
            document = load_network(path)
        except LayerwiseError as exc:
            log.info("could not open %s: %s", path, exc)
            QMessageBox.critical(self, "Cannot open network", str(exc))
            return False
        weights, problem = self._weights_beside(path, document)
        self.set_document(document, path, weights)
        self._remember_recent(path)
        if problem:
            self.statusBar().showMessage(problem, 15000)
        return True

    @staticmethod
    def _weights_beside(path: Path, document: NetworkDocument) -> tuple[NetworkWeights | None, str | None]:
        """The trained weights saved beside ``path``, or why they were not loaded."""
        weights_path = weights_path_for(path)
        if not weights_path.exists():
            return None, None
        try:
            return NetworkWeights.load(weights_path, document), None
        except LayerwiseError as exc:
            log.info("weights not loaded: %s", exc)
            return None, f"Trained weights not loaded, the network starts from fresh weights: {exc}"

    def choose_and_open(self) -> None:
        start = str(self.path.parent if self.path else Path.home())
        chosen, _ = QFileDialog.getOpenFileName(self, "Open network", start, NETWORK_FILTER)
        if chosen:
            self.open_network(chosen)

    def save(self) -> bool:
        if self.path is None:
            return self.save_as()
        return self._write(self.path)

    def save_as(self) -> bool:
        start = str(self.path or Path.home() / suggested_file_name(self.document.name, ".json"))
        chosen, _ = QFileDialog.getSaveFileName(self, "Save network", start, NETWORK_FILTER)
        return bool(chosen) and self._write(Path(chosen))

    def _write(self, path: Path) -> bool:
        try:
            save_network(self.document, path)
            if self.weights:
                self.weights.save(weights_path_for(path), self.document)
        except LayerwiseError as exc:
            QMessageBox.critical(self, "Cannot save network", str(exc))
            return False
        self.path = path
        self.weights_modified = False
        self.undo_stack.setClean()
        self._refresh_modified()
        self._refresh_title()
        self._remember_recent(path)
        self.statusBar().showMessage(f"Saved {path}", 4000)
        return True

    def import_onnx(self) -> None:
        from core.onnx_io.importer import OpenInputSizes, import_onnx

        chosen, _ = QFileDialog.getOpenFileName(self, "Import ONNX model", str(Path.home()), "ONNX models (*.onnx)")
        if not chosen or not self.maybe_save():
            return
        input_shape: list[int] | None = None
        while True:
            try:
                imported = import_onnx(chosen, input_shape)
                break
            except OpenInputSizes as exc:
                # Exported with dynamic axes (torch.onnx.export does for H and W): ask for the size to import at.
                input_shape = self._ask_input_shape(exc, input_shape)
                if input_shape is None:
                    return
            except LayerwiseError as exc:
                QMessageBox.critical(self, "Cannot import model", str(exc))
                return
        self.set_document(imported.document, None, NetworkWeights.from_state_dict(imported.document, imported.weights))
        self.undo_stack.resetClean()
        about_input, renamed = imported.model_notes, imported.renamed
        message = f"Imported {chosen}: {len(imported.document)} layers"
        if about_input:
            message += "; " + "; ".join(about_input)
        if renamed:  # names the document could not keep as the model had them
            message += f"; {len(renamed)} renamed: " + "; ".join(renamed)
        self.statusBar().showMessage(message, 15000 if imported.notes else 6000)
        rgb_input = self._raw_rgb_input()
        if imported.notes or rgb_input is not None:
            self._show_import_notes(Path(chosen).name, len(imported.document), renamed, rgb_input, about_input)

    def _ask_input_shape(self, error: OpenInputSizes, previous: list[int] | None) -> list[int] | None:
        """Ask for the sample shape to import a model whose input leaves sizes open; ``None`` when cancelled."""
        shown = "[N, " + ", ".join("?" if size is None else str(size) for size in error.sizes) + "]"
        wanted = "C, H, W" if len(error.sizes) == 3 else "features"
        text = ", ".join(map(str, previous or error.suggestion()))
        while True:
            text, accepted = QInputDialog.getText(
                self,
                "Input size",
                f"The model's input {error.input_name!r} has shape {shown}: some sizes are left open.\n"
                f"Import it at this sample shape ({wanted}; the fixed sizes stay as they are):",
                text=text,
            )
            if not accepted:
                return None
            try:
                return parse_shape(text)
            except ValueError:
                QMessageBox.warning(self, "Input size", f"Write whole numbers such as 3, 224, 224; got {text!r}.")

    def _raw_rgb_input(self) -> str | None:
        """The id of the network's Input when it is the only one, reads 3×H×W images and has no preprocessing."""
        inputs = [node for node in self.document.nodes if node.layer.is_network_input]
        if len(inputs) != 1 or inputs[0].layer.preprocessing is None:
            return None
        layer = inputs[0].layer
        shape = layer.params["shape"]
        rgb = len(shape) == 3 and shape[0] == 3
        return inputs[0].id if rgb and layer.preprocessing.is_default else None

    def _show_import_notes(
        self,
        file_name: str,
        layers: int,
        notes: list[str],
        rgb_input: str | None = None,
        about_input: list[str] | None = None,
    ) -> None:
        """Tell, in one message over the window, what the import could not keep as the model had it.

        The message lists the first :data:`IMPORT_NOTES_LISTED` renamed layers (``notes``), and
        every one in its details, then what ``about_input`` says of the input's preprocessing.
        With ``rgb_input``, the id of an RGB Input without preprocessing, it also offers ImageNet's
        (:data:`USE_IMAGENET`, one undo step). It does not block: the imported network is already
        open behind it.
        """
        if self.import_notes_box is not None:
            self.import_notes_box.close()
        about_input = about_input or []
        text = f"Imported {file_name}: {layers} layers."
        if notes:
            text += f" {len(notes)} {'layer is' if len(notes) == 1 else 'layers are'} not named as in the model:"
        listed = "\n".join(f"• {note}" for note in notes[:IMPORT_NOTES_LISTED])
        if len(notes) > IMPORT_NOTES_LISTED:
            listed += f"\n… and {len(notes) - IMPORT_NOTES_LISTED} more (Show Details… lists them all)."
        parts = [listed, "\n".join(f"{note[:1].upper()}{note[1:]}." for note in about_input)]
        if rgb_input is not None:
            parts.append(IMAGENET_OFFER)
        box = QMessageBox(
            QMessageBox.Icon.Information,
            "Model imported with notes" if notes or about_input else "Model imported",
            text,
            QMessageBox.StandardButton.Ok,
            self,
        )
        box.setInformativeText("\n\n".join(part for part in parts if part))
        if len(notes) > IMPORT_NOTES_LISTED:
            box.setDetailedText("\n".join(notes))
        if rgb_input is not None:
            document = self.document
            offer = box.addButton(USE_IMAGENET, QMessageBox.ButtonRole.ActionRole)
            offer.setToolTip(
                "Resize by 256/224, centre crop and normalise with ImageNet's mean and std; Ctrl+Z undoes it."
            )
            offer.clicked.connect(lambda _checked=False: self.use_imagenet_preprocessing(document, rgb_input))
            box.setDefaultButton(QMessageBox.StandardButton.Ok)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.finished.connect(lambda _result: setattr(self, "import_notes_box", None))
        self.import_notes_box = box
        box.open()

    def use_imagenet_preprocessing(self, document: NetworkDocument, node_id: str) -> None:
        """Give the Input ``node_id`` ImageNet's evaluation preprocessing, as one undo step, and say so.

        Nothing happens when ``document`` is no longer the one shown (another network was opened).
        """
        if document is not self.document or node_id not in document:
            return
        node = document.node(node_id)
        preprocessing = imagenet_preprocessing(node.layer.params["shape"])
        self.undo_stack.push(
            SetParamsCommand(document, node_id, preprocessing.to_json(), f"Use ImageNet preprocessing for {node.name}")
        )
        if node.layer.preprocessing == preprocessing:  # the push may be refused while training runs
            self.statusBar().showMessage(
                f"{node.name} now normalises with ImageNet's mean and std ({preprocessing.describe()}); "
                "Ctrl+Z undoes it.",
                10000,
            )

    def export_onnx(self) -> None:
        from core.onnx_io.export import save_onnx

        chosen, _ = QFileDialog.getSaveFileName(
            self,
            "Export ONNX model",
            str(Path.home() / suggested_file_name(self.document.name, ".onnx")),
            "ONNX models (*.onnx)",
        )
        if not chosen:
            return
        bake = self._ask_bake_preprocessing()
        if bake is None:
            return
        try:
            model = Model(self.document)
            state, fresh = self.weights.fit(model, self.document)
            model.load_state_dict(state)
            save_onnx(model, chosen, bake_preprocessing=bake)
        except LayerwiseError as exc:
            QMessageBox.critical(self, "Cannot export model", str(exc))
            return
        if not self.weights:
            which = "untrained initial weights"
        elif fresh:
            which = f"trained weights; {len(fresh)} tensors initial because the network changed since training"
        else:
            which = "trained weights"
        self.statusBar().showMessage(f"Exported {chosen} with {which}", 8000)

    def _ask_bake_preprocessing(self) -> bool | None:
        """Whether to bake the Input's normalisation into the exported graph; ``None`` to cancel.

        Asked only when an Input normalises; otherwise there is nothing to bake (``False``).
        Metadata only is the default: the exported model then reads normalised tensors, as
        models exported from PyTorch do.
        """
        normalising = [
            node
            for node in self.document.nodes
            if (preprocessing := node.layer.preprocessing) is not None and preprocessing.normalises
        ]
        if not normalising:
            return False
        node = normalising[0]
        box = QMessageBox(
            QMessageBox.Icon.Question,
            "Export preprocessing",
            f"The input {node.name!r} normalises its images ({node.layer.preprocessing.describe()}).",
            QMessageBox.StandardButton.Cancel,
            self,
        )
        box.setInformativeText(
            f"{BAKE_PREPROCESSING}: the model starts with the normalisation as ONNX nodes and reads raw RGB pixels "
            f"in 0..1.\n\n{METADATA_ONLY}: the model reads normalised tensors, as models exported from PyTorch do; "
            "the preprocessing is written in the model's metadata."
        )
        bake = box.addButton(BAKE_PREPROCESSING, QMessageBox.ButtonRole.AcceptRole)
        metadata = box.addButton(METADATA_ONLY, QMessageBox.ButtonRole.AcceptRole)
        box.setDefaultButton(metadata)
        box.exec()
        clicked = box.clickedButton()
        if clicked is bake:
            return True
        return False if clicked is metadata else None

    def export_pytorch(self) -> None:
        """Write the network with its weights as a PyTorch project into a folder the user picks."""
        from core.torch_export.project import existing_files, write_torch_project

        chosen = QFileDialog.getExistingDirectory(self, "Export PyTorch project into folder", str(Path.home()))
        if not chosen:
            return
        clashes = existing_files(chosen)
        if clashes:
            answer = QMessageBox.question(
                self,
                "Overwrite files?",
                f"{chosen} already holds {', '.join(clashes)}. Overwrite them?",
                QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                QMessageBox.StandardButton.No,
            )
            if answer != QMessageBox.StandardButton.Yes:
                return
        try:
            setup = self.training_panel.torch_setup()
            model = Model(self.document, seed=setup.config.seed)
            state, fresh = self.weights.fit(model, self.document)
            model.load_state_dict(state)
            write_torch_project(model, chosen, force=bool(clashes), setup=setup)
        except LayerwiseError as exc:
            QMessageBox.critical(self, "Cannot export PyTorch project", str(exc))
            return
        which = "untrained initial weights" if not self.weights else "trained weights"
        if self.weights and fresh:
            which += f"; {len(fresh)} tensors initial because the network changed since training"
        data = setup.data.name if setup.data is not None else "no data"
        self.statusBar().showMessage(
            f"Exported PyTorch project to {chosen} with {which}; train.py trains on {data} with the Training dock's settings",
            8000,
        )

    # -- recent files and layout --------------------------------------------------------

    def _recent(self) -> list[str]:
        value = self.settings.value("recent_files", [])
        return [str(v) for v in (value if isinstance(value, list) else [value] if value else [])]

    def _remember_recent(self, path: Path) -> None:
        entries = [str(path.resolve())] + [p for p in self._recent() if p != str(path.resolve())]
        self.settings.setValue("recent_files", entries[:MAX_RECENT])
        self._update_recent_menu()

    def _update_recent_menu(self) -> None:
        self.recent_menu.clear()
        entries = self._recent()
        for entry in entries:
            self._action(self.recent_menu, entry, lambda _=False, p=entry: self.open_network(p))
        self.recent_menu.setEnabled(bool(entries))

    def _restore_layout(self) -> None:
        geometry, state = self.settings.value("window_geometry"), self.settings.value("window_state")
        if isinstance(geometry, QByteArray):
            self.restoreGeometry(geometry)
        if isinstance(state, QByteArray):
            self._layout_restored = self.restoreState(state)

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if not self._shown_once:
            # The view has its real size only now: fit the network opened before the window showed.
            self._shown_once = True
            if not self._layout_restored:
                self.apply_default_layout()
            QTimer.singleShot(0, self.view, lambda: self.view.fit_all(readable=True))

    def closeEvent(self, event: QCloseEvent) -> None:
        if not self.maybe_save():
            event.ignore()
            return
        self.training_panel.shutdown()
        self.inside_panel.shutdown()
        self.settings.setValue("window_geometry", self.saveGeometry())
        self.settings.setValue("window_state", self.saveState())
        self.autosaver.close()
        # A window deleted on close empties its undo stack while its child widgets are
        # already gone; nothing may react to that any more.
        self.undo_stack.blockSignals(True)
        event.accept()

    # -- recovery ------------------------------------------------------------------------

    def _recovery_snapshot(self) -> RecoverySnapshot | None:
        """What a crash would lose, or ``None`` when the files hold everything."""
        # Runs read from logs are in their files already.
        runs = [run for run in self.training_panel.runs if (run.epochs or run.finished is not None) and not run.source]
        if self.undo_stack.isClean() and not self.weights_modified and not runs:
            return None
        return RecoverySnapshot(
            network_to_dict(self.document),
            self.weights.state_dict(self.document),
            runs,
            str(self.path) if self.path else None,
        )

    def _recovery_state(self) -> object:
        runs = tuple(
            (id(run), run.name, run.visible, len(run.epochs), run.finished is not None)
            for run in self.training_panel.runs
        )
        return (
            id(self.document),
            self.undo_stack.index(),
            self.undo_stack.isClean(),
            self.weights_modified,
            id(self.weights),
            runs,
            self.document.name,
        )

    def restore_snapshot(self, snapshot: RecoverySnapshot) -> None:
        """Show what a recovery file holds, as unsaved work."""
        document = network_from_dict(snapshot.network)
        path = Path(snapshot.source_path) if snapshot.source_path else None
        weights = NetworkWeights.from_state_dict(document, snapshot.weights) if snapshot.weights else None
        self.set_document(document, path, weights)
        self.training_panel.restore_runs(snapshot.runs)
        self.undo_stack.resetClean()
        self.weights_modified = bool(weights)
        self._refresh_modified()
        self.autosaver.save_now()

    # -- training ------------------------------------------------------------------------

    def _weights_trained(self, state: dict) -> None:
        try:
            self.weights = NetworkWeights.from_state_dict(self.document, state)
        except LayerwiseError as exc:  # layer names changed under a run: should not happen, say so
            self.statusBar().showMessage(f"Trained weights not kept: {exc}", 10000)
            return
        self.weights_modified = True
        self._refresh_modified()

    def replace_classifier(self, head: Classifier, classes: int) -> None:
        """Resize the classifier ``head`` for ``classes`` classes, as one undoable step."""
        self.undo_stack.push(ReplaceClassifierCommand(self.document, head.node_id, head.param, classes))
        self.statusBar().showMessage(
            f"{head.name} now outputs {classes} class scores and starts from fresh weights; Ctrl+Z undoes it.", 8000
        )

    def import_dataset(self) -> None:
        """Import a dataset for training (IDX, .npz, CIFAR batches, image folders)."""
        self.training_dock.show()
        self.training_dock.raise_()
        self.training_panel.chooser.choose_file()

    def choose_run_log(self) -> None:
        """Ask for a run log (``layerwise train --log``) and follow it in the Training curves."""
        chosen, _ = QFileDialog.getOpenFileName(self, "Open run log", str(Path.home()), RUN_LOG_FILTER)
        if chosen:
            self.open_run_log(chosen)

    def open_run_log(self, path: str | Path) -> bool:
        """Show the run log at ``path`` in the Training curves and follow it while it grows."""
        opened = self.training_panel.open_run_log(path)
        if opened:
            self.curves_dock.show()
            self.curves_dock.raise_()
        return opened

    def _training_running(self, running: bool) -> None:
        if running:
            self.curves_dock.show()
            self.curves_dock.raise_()

    def _allow_edit(self, command: QUndoCommand | None) -> bool:
        """Structural edits while training runs stop the run first, if the user agrees."""
        if not self.training_panel.is_training or isinstance(command, MoveNodesCommand):
            return True
        answer = QMessageBox.question(
            self,
            "Training is running",
            "Changing the network stops the training run (its curves and weights so far are kept). Stop training?",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
        )
        if answer != QMessageBox.StandardButton.Yes:
            self.inspector.set_selection(self.scene.selected_node_ids())
            return False
        self.training_panel.stop_and_wait()
        return True

    # -- editing -------------------------------------------------------------------------

    def _add_at_centre(self, type_name: str) -> None:
        centre = self.view.mapToScene(self.view.viewport().rect().center())
        self.view.add_layer(type_name, (centre.x(), centre.y()))

    def _select_all(self) -> None:
        for item in self.scene.node_items.values():
            item.setSelected(True)

    def copy(self) -> None:
        node_ids = self.scene.selected_node_ids()
        if not node_ids:
            return
        text = json.dumps(fragment_of(self.document, node_ids))
        data = QMimeData()
        data.setData(CLIPBOARD_MIME, text.encode("utf-8"))
        data.setText(text)
        QApplication.clipboard().setMimeData(data)
        release_clipboard_at_exit()

    def cut(self) -> None:
        self.copy()
        self.scene.delete_selection()

    def paste(self) -> None:
        data = QApplication.clipboard().mimeData()
        if not data.hasFormat(CLIPBOARD_MIME):
            return
        try:
            fragment = json.loads(bytes(data.data(CLIPBOARD_MIME)).decode("utf-8"))
        except ValueError:
            return
        self._insert(fragment, (PASTE_OFFSET, PASTE_OFFSET), None, "Paste")

    def duplicate(self) -> None:
        node_ids = self.scene.selected_node_ids()
        if node_ids:
            self._insert(fragment_of(self.document, node_ids), (PASTE_OFFSET, PASTE_OFFSET), None, "Duplicate")

    def insert_block(self, example: str, title: str) -> None:
        """Insert a template block below the selected layer, wired to it."""
        block = load_network(example_path(example))
        entry = next(node.name for node in block.nodes if node.layer.is_network_input)
        fragment = network_to_dict(block)
        # The block's Input stays named in its layers' inputs: the selected layer takes its place.
        fragment["layers"] = [layer for layer in fragment["layers"] if layer["name"] != entry]
        selected = self.scene.selected_node_ids()
        anchor = self.document.node(selected[0]).position if selected else (0.0, 0.0)
        top = min(layer["position"][1] for layer in fragment["layers"])
        offset = (
            (anchor[0], anchor[1] + 140 - top)
            if selected
            else tuple(self.view.mapToScene(self.view.viewport().rect().center()).toTuple())
        )
        self._insert(fragment, offset, selected[0] if selected else None, f"Insert {title}", entry)

    def _insert(
        self, fragment: dict, offset: tuple[float, float], wire_from: str | None, text: str, entry: str | None = None
    ) -> None:
        inside = {layer["name"] for layer in fragment["layers"]}
        own = [
            {**layer, "inputs": [item for item in layer.get("inputs", []) if _input_name(item) in inside]}
            for layer in fragment["layers"]
        ]
        try:  # a command must not fail half-way inside the undo stack: check the fragment first
            network_from_dict({"format": FORMAT_ID, "version": FORMAT_VERSION, "layers": own})
        except (LayerwiseError, KeyError, TypeError) as exc:
            self.statusBar().showMessage(f"Cannot insert: {exc}", 6000)
            return
        command = InsertFragmentCommand(self.document, fragment, offset, wire_from=wire_from, text=text, entry=entry)
        self.undo_stack.push(command)
        self.scene.clearSelection()
        for node_id in command.node_ids:
            self.scene.node_items[node_id].setSelected(True)

    def auto_layout(self) -> None:
        positions = layered_positions(self.document)
        moves = {
            i: (self.document.node(i).position, p) for i, p in positions.items() if self.document.node(i).position != p
        }
        if moves:
            self.undo_stack.push(MoveNodesCommand(self.document, moves))
        self.view.fit_all()

    def show_about(self) -> None:
        QMessageBox.about(
            self,
            f"About {APP_NAME}",
            f"<b>{APP_NAME}</b><p>Build, train, understand and export convolutional networks.</p>",
        )


def suggested_file_name(title: str, suffix: str) -> str:
    """A file name for a save dialog to suggest, from a network's title (which may come from a model).

    A title is data, not a path: separators, characters some file system refuses and leading
    dots become ``_``, so that the suggestion stays in the folder it is joined to.
    """
    stem = _NOT_IN_FILE_NAMES.sub("_", title).strip().lstrip(".")[:200] or "network"
    return stem + suffix
