"""Import a dataset from disk: choose a file or folder, read it in the background, preview it.

The import runs on a worker thread (a 60,000-image MNIST takes a few seconds) while a
timer polls for the result, so the dialog stays responsive. Any failure, expected
(:class:`DatasetError`, naming the file) or not, shows as a message; OK is enabled only
once a dataset has been read. A read dataset shows its samples per class, split by
split; when its training classes are strongly imbalanced the dialog says so and offers
balanced class weights, which the Training dock takes on when the dialog is accepted.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from core.data import Dataset, DatasetError, import_dataset
from core.data.dataset import STRONG_IMBALANCE, class_counts, imbalance
from gui.widgets.dataset_preview import DatasetPreview
from gui.widgets.sample_grid import accent_colour

POLL_MS = 50
"""How often the dialog looks for the worker's result."""
FILE_FILTERS = ";;".join(
    (
        "Dataset files (*.npz *-ubyte *-ubyte.gz *ubyte* data_batch_* test_batch)",
        "NumPy archives (*.npz)",
        "IDX files, raw or gzipped (*-ubyte *-ubyte.gz *.idx3-ubyte *.gz)",
        "CIFAR-10 batches (data_batch_* test_batch)",
        "CIFAR-100 batches (train test)",
        "All files (*)",
    )
)
HELP_TEXT = (
    "Choose a <b>file</b>: an MNIST/Fashion-MNIST IDX images file (raw or .gz), a .npz with arrays "
    "<tt>x</tt> and <tt>y</tt> (or <tt>x_train</tt>, <tt>y_train</tt>, optionally <tt>x_test</tt>, "
    "<tt>y_test</tt>), or a CIFAR-10 batch.<br>Or a <b>folder</b>: an MNIST folder, a CIFAR-10 or "
    "CIFAR-100 folder, or images with one sub-folder per class (optionally inside <tt>train/</tt>, "
    "<tt>val/</tt> and <tt>test/</tt> sub-folders)."
)
COUNTS_ROWS_SHOWN = 6
"""The per-class counts table shows this many classes and scrolls beyond (CIFAR-100 has 100 rows)."""
SPLIT_TITLES = (("training", "Training"), ("val", "Validation"), ("test", "Test"))


def split_counts(dataset: Dataset) -> list[tuple[str, list[int]]]:
    """Samples per class of each split the dataset has: ``[("Training", K counts), ("Validation", …), …]``."""
    parts = {"training": dataset, "val": dataset.val, "test": dataset.test}
    return [(title, class_counts(parts[key])) for key, title in SPLIT_TITLES if parts[key] is not None]


def _import(path: Path) -> Dataset:
    """Run on the worker thread: every failure becomes a message naming ``path``."""
    try:
        return import_dataset(path)
    except DatasetError:
        raise
    except Exception as exc:  # noqa: BLE001 — still a message, never a crash
        # Not a format problem the importer foresaw (memory, permissions, a bug).
        raise DatasetError(f"{path}: could not be imported: {type(exc).__name__}: {exc}") from None


class DatasetImportDialog(QDialog):
    """Choose, import and preview a dataset.

    After the dialog is accepted, :attr:`dataset` holds the imported dataset and
    :attr:`path` the file or folder it came from.

    Signals
    -------
    balanced_weights_requested()
        Emitted on acceptance when "Use balanced class weights" is ticked.
    """

    balanced_weights_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Import dataset")
        self.dataset: Dataset | None = None
        self.path: Path | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._future: Future[Dataset] | None = None
        self._importing: Path | None = None
        self._timer = QTimer(self)
        self._timer.setInterval(POLL_MS)
        self._timer.timeout.connect(self._poll)
        self._build()
        self.resize(720, 560)

    def _build(self) -> None:
        help_label = QLabel(HELP_TEXT)
        help_label.setWordWrap(True)
        self.path_edit = QLineEdit()
        self.path_edit.setPlaceholderText("Path of a dataset file or folder")
        self.path_edit.setClearButtonEnabled(True)
        self.path_edit.returnPressed.connect(self.start_import)
        self.path_edit.textEdited.connect(self._path_edited)
        self.file_button = QPushButton("Choose file…")
        self.file_button.clicked.connect(self.choose_file)
        self.folder_button = QPushButton("Choose folder…")
        self.folder_button.clicked.connect(self.choose_folder)
        self.import_button = QPushButton("Import")
        self.import_button.setToolTip("Read the dataset at the path above")
        self.import_button.clicked.connect(lambda: self.start_import())
        path_row = QHBoxLayout()
        path_row.addWidget(self.path_edit, 1)
        for button in (self.import_button, self.file_button, self.folder_button):
            button.setAutoDefault(False)
            path_row.addWidget(button)
        self.busy = QProgressBar()
        self.busy.setRange(0, 0)  # a moving bar: the importer reports no progress
        self.busy.setTextVisible(False)
        self.busy.setMaximumHeight(10)
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.status.setTextFormat(Qt.TextFormat.RichText)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.counts = QTableWidget()
        self.counts.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.counts.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.counts.verticalHeader().hide()
        self.counts.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.counts.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 8)
        self.counts.setSizeAdjustPolicy(QAbstractItemView.SizeAdjustPolicy.AdjustToContents)
        self.counts.setToolTip("Samples of each class, split by split")
        self.imbalance_label = QLabel()
        self.imbalance_label.setWordWrap(True)
        self.balanced_box = QCheckBox("Use balanced class weights")
        self.balanced_box.setToolTip(
            "Set the Training dock's class weights to balanced: each class weighs samples / (classes · its count) "
            "in the loss, so that the small classes count as much as the large ones."
        )
        self.preview = DatasetPreview()
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(help_label)
        layout.addLayout(path_row)
        layout.addWidget(self.busy)
        layout.addWidget(self.status)
        layout.addWidget(self.counts)
        layout.addWidget(self.imbalance_label)
        layout.addWidget(self.balanced_box)
        layout.addWidget(self.preview, 1)
        layout.addWidget(self.buttons)
        self._show_idle()

    # -- state --------------------------------------------------------------------

    @property
    def ok_button(self) -> QPushButton:
        return self.buttons.button(QDialogButtonBox.StandardButton.Ok)

    def is_busy(self) -> bool:
        """Whether an import is running."""
        return self._future is not None

    def error_text(self) -> str:
        """The message of the last failed import, "" otherwise."""
        return self.status.property("error") or ""

    def use_balanced_weights(self) -> bool:
        """Whether balanced class weights are offered for the dataset read and ticked."""
        return self.dataset is not None and self.balanced_box.isVisibleTo(self) and self.balanced_box.isChecked()

    def _hide_counts(self) -> None:
        self.counts.hide()
        self.imbalance_label.hide()
        self.balanced_box.hide()
        self.balanced_box.setChecked(False)

    def _show_counts(self, dataset: Dataset) -> None:
        """The samples per class of each split and, for a strong imbalance, the offer of balanced weights."""
        columns = split_counts(dataset)
        self.counts.clear()
        self.counts.setColumnCount(1 + len(columns))
        self.counts.setRowCount(dataset.num_classes)
        self.counts.setHorizontalHeaderLabels(["Class", *(title for title, _ in columns)])
        for row, name in enumerate(dataset.class_names):
            self.counts.setItem(row, 0, QTableWidgetItem(name))
            for column, (_title, counts) in enumerate(columns, start=1):
                item = QTableWidgetItem(f"{counts[row]:,}")
                item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.counts.setItem(row, column, item)
        # As tall as its first rows, as wide as its columns: the layout would otherwise squeeze it to two rows.
        self.counts.resizeColumnsToContents()
        rows = min(dataset.num_classes, COUNTS_ROWS_SHOWN)
        frame = 2 * self.counts.frameWidth()
        height = self.counts.horizontalHeader().height() + rows * self.counts.verticalHeader().defaultSectionSize()
        self.counts.setFixedHeight(height + frame)
        scroll = self.counts.verticalScrollBar().sizeHint().width() if dataset.num_classes > rows else 0
        self.counts.setFixedWidth(self.counts.horizontalHeader().length() + frame + scroll)
        self.counts.show()
        ratio = imbalance(dataset)
        self.balanced_box.setChecked(False)
        if ratio < STRONG_IMBALANCE:
            self.imbalance_label.hide()
            self.balanced_box.hide()
            return
        text = (
            f"The training classes are imbalanced: the largest has {ratio:.1f}× the samples of the smallest. "
            "A network trained on them favours the large classes."
        )
        empty = [name for name, count in zip(dataset.class_names, columns[0][1]) if count == 0]
        if empty:
            # Balanced weights divide by each class's count: a class without samples has none.
            text += f" Balanced class weights need a training sample of every class; {empty[0]!r} has none."
        self.imbalance_label.setText(text)
        self.imbalance_label.show()
        self.balanced_box.setVisible(not empty)

    def _show_idle(self) -> None:
        self.busy.hide()
        self.status.hide()
        self.status.setProperty("error", "")
        self.ok_button.setEnabled(False)
        self.preview.set_dataset(None)
        self._hide_counts()

    def _show_busy(self, path: Path) -> None:
        self.busy.show()
        self.status.setProperty("error", "")
        self.status.setStyleSheet("")
        self.status.setText(f"Importing <b>{html.escape(str(path))}</b> …")
        self.status.show()
        self.ok_button.setEnabled(False)
        self.preview.set_dataset(None)
        self._hide_counts()

    def _show_error(self, message: str) -> None:
        self.busy.hide()
        self.dataset = self.path = None
        self.status.setProperty("error", message)
        self.status.setStyleSheet(f"QLabel {{ color: {accent_colour(self.palette()).name()}; }}")
        self.status.setText(html.escape(message))
        self.status.show()
        self.ok_button.setEnabled(False)
        self.preview.set_dataset(None)
        self._hide_counts()

    def _show_dataset(self, dataset: Dataset, path: Path) -> None:
        self.busy.hide()
        self.status.hide()
        self.status.setProperty("error", "")
        self.dataset, self.path = dataset, path
        self.preview.set_dataset(dataset)
        self._show_counts(dataset)
        self.ok_button.setEnabled(True)
        self.ok_button.setFocus()

    def _path_edited(self, text: str) -> None:
        # OK stands for the dataset previewed, so only while the path still names it.
        same = self.path is not None and text.strip() != "" and Path(text.strip()).expanduser() == self.path
        self.ok_button.setEnabled(self.dataset is not None and same and not self.is_busy())

    # -- choosing -----------------------------------------------------------------

    def _start_directory(self) -> str:
        text = self.path_edit.text().strip()
        if not text:
            return str(Path.home())
        path = Path(text).expanduser()
        return str(path if path.is_dir() else path.parent)

    def choose_file(self) -> None:
        """Ask for a dataset file, then import it."""
        name, _ = QFileDialog.getOpenFileName(
            self,
            "Choose a dataset file",
            self._start_directory(),
            FILE_FILTERS,
            options=QFileDialog.Option.DontUseNativeDialog,
        )
        if name:
            self.start_import(name)

    def choose_folder(self) -> None:
        """Ask for a dataset folder, then import it."""
        name = QFileDialog.getExistingDirectory(
            self,
            "Choose a dataset folder",
            self._start_directory(),
            QFileDialog.Option.ShowDirsOnly | QFileDialog.Option.DontUseNativeDialog,
        )
        if name:
            self.start_import(name)

    # -- importing ----------------------------------------------------------------

    def start_import(self, path: str | Path | None = None) -> None:
        """Import ``path`` (default: the path in the line edit) on the worker thread.

        A new import supersedes one still running: the older result is dropped when it arrives.
        """
        if path is not None:
            self.path_edit.setText(str(path))
        text = self.path_edit.text().strip()
        if not text:
            self._show_error("Choose a dataset file or folder first.")
            return
        target = Path(text).expanduser()
        self.dataset = self.path = None
        if self._future is not None:
            self._future.cancel()  # only stops it if it has not started; otherwise its result is dropped
        if self._executor is None:
            # Two workers, so a new import need not wait for a superseded one to finish.
            self._executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="dataset-import")
        self._importing = target
        self._future = self._executor.submit(_import, target)
        self._show_busy(target)
        self._timer.start()

    def _poll(self) -> None:
        future, target = self._future, self._importing
        if future is None or target is None:
            self._timer.stop()
            return
        if not future.done():
            return
        self._timer.stop()
        self._future = None
        try:
            dataset = future.result()
        except DatasetError as exc:
            self._show_error(str(exc))
            return
        except Exception as exc:  # noqa: BLE001 — shown to the user instead of a traceback
            self._show_error(f"{target}: could not be imported: {type(exc).__name__}: {exc}")
            return
        try:
            self._show_dataset(dataset, target)
        except Exception as exc:  # noqa: BLE001 — a dataset the preview cannot draw is still an error message
            self._show_error(f"{target}: was read but cannot be shown: {type(exc).__name__}: {exc}")

    # -- closing ------------------------------------------------------------------

    def accept(self) -> None:
        if self.dataset is None or self.is_busy():
            return
        self._shutdown()
        if self.use_balanced_weights():
            self.balanced_weights_requested.emit()
        super().accept()

    def reject(self) -> None:
        self._shutdown()
        super().reject()

    def closeEvent(self, event: QCloseEvent) -> None:
        self._shutdown()
        super().closeEvent(event)

    def _shutdown(self) -> None:
        """Stop polling and let a running import finish on its own; its result is dropped."""
        self._timer.stop()
        if self._future is not None:
            self._future.cancel()
            self._future = None
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None

    @classmethod
    def choose(
        cls, parent: QWidget | None = None, on_balanced_weights: Callable[[], None] | None = None
    ) -> tuple[Dataset, Path] | None:
        """Run the dialog modally: the imported dataset and its path, or ``None`` when cancelled.

        ``on_balanced_weights`` is called when the dialog is accepted with balanced class
        weights ticked.
        """
        dialog = cls(parent)
        if on_balanced_weights is not None:
            dialog.balanced_weights_requested.connect(on_balanced_weights)
        try:
            if dialog.exec() == QDialog.DialogCode.Accepted and dialog.dataset is not None and dialog.path:
                return dialog.dataset, dialog.path
            return None
        finally:
            dialog.deleteLater()
