"""Download a dataset of the catalogue: progress, cancel, then the dataset, while the window goes on.

The transfer, its verification, unpacking and the first read all run on a worker thread
(:func:`core.data.store.fetch`, then :func:`~core.data.store.load_fetched`); a timer shows the
latest progress the worker left, and Cancel sets an event the download checks between
chunks (what was received is kept, so a later download resumes). Any failure — no network,
a wrong checksum, a stalled server — shows as the one-line message the core gives.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor

from PySide6.QtCore import QSettings, Qt, QTimer
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
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

from core.data import Dataset, DatasetError
from core.data.catalogue import CATALOGUE, catalogue_names
from core.data.download import MIRROR_VARIABLE, DownloadCancelled, Progress
from core.data.store import fetch, installed, load_fetched

POLL_MS = 100
"""How often the dialog shows the worker's latest progress."""
QUIET_S = 3.0
"""After this long without new data the status says the transfer is waiting for the server."""
MIRROR_KEY = "datasets/mirror"
"""The preferences entry of the mirror (the environment's LAYERWISE_DATASETS_MIRROR when empty)."""
COLUMNS = ("Name", "Dataset", "Download", "Split", "On this computer")


def _megabytes(count: int) -> str:
    return f"{count / 1e6:,.1f} MB" if count >= 1e5 else f"{count / 1e3:,.0f} kB"


def _fetch_and_load(name: str, mirror: str | None, progress: list[Progress], cancel: threading.Event) -> Dataset:
    """Run on the worker thread: download (or find) ``name``, then read it; every failure is a DatasetError."""
    try:
        fetch(name, progress=progress.append, cancelled=cancel.is_set, mirror=mirror)
        return load_fetched(name)
    except DatasetError:
        raise
    except Exception as exc:  # noqa: BLE001 — still a message, never a crash of the window
        raise DatasetError(f"{name}: could not be fetched: {type(exc).__name__}: {exc}") from None


class DatasetDownloadDialog(QDialog):
    """The catalogue, with what is already here; downloads the chosen dataset in the background.

    After the dialog is accepted, :attr:`name` and :attr:`dataset` hold what was fetched.
    """

    def __init__(self, parent: QWidget | None = None, settings: QSettings | None = None, name: str = "") -> None:
        super().__init__(parent)
        self.setWindowTitle("Download a dataset")
        self.setMinimumWidth(720)
        self.settings = settings
        self.name = ""
        self.dataset: Dataset | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._future: Future[Dataset] | None = None
        self._progress: list[Progress] = []
        self._cancel = threading.Event()
        self._timer = QTimer(self)
        self._timer.setInterval(POLL_MS)
        self._timer.timeout.connect(self._poll)

        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.table.itemSelectionChanged.connect(self._selection_changed)
        self.table.itemDoubleClicked.connect(lambda _item: self.start())
        self.details = QLabel()
        self.details.setWordWrap(True)
        self.details.setProperty("role", "muted")
        self.details.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.mirror = QLineEdit(settings.value(MIRROR_KEY, "", str) if settings is not None else "")
        self.mirror.setPlaceholderText(f"none (or ${MIRROR_VARIABLE})")
        self.mirror.setToolTip(
            "A server holding the same files by name, tried before the publishers' (a classroom's or a "
            "company's). HTTP(S)_PROXY from the environment are honoured."
        )
        self.bar = QProgressBar()
        self.bar.setTextVisible(False)
        self.bar.hide()
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.download_button = QPushButton("Download")
        self.download_button.setDefault(True)
        self.download_button.clicked.connect(self.start)
        self.cancel_button = QPushButton("Cancel download")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel)
        self.close_button = QPushButton("Close")
        self.close_button.clicked.connect(self.reject)

        mirror_row = QHBoxLayout()
        mirror_row.addWidget(QLabel("Mirror"))
        mirror_row.addWidget(self.mirror, 1)
        buttons = QHBoxLayout()
        buttons.addWidget(self.status, 1)
        buttons.addWidget(self.download_button)
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(self.close_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.details)
        layout.addLayout(mirror_row)
        layout.addWidget(self.bar)
        layout.addLayout(buttons)
        self._fill()
        self.select(name or next((n for n in catalogue_names() if not self._on_disk(n)), catalogue_names()[0]))

    # -- the table ---------------------------------------------------------------------

    def _on_disk(self, name: str) -> bool:
        return any(item.name == name for item in installed())

    def _fill(self) -> None:
        here = {item.name: item for item in installed()}
        names = catalogue_names()
        self.table.setRowCount(len(names))
        for row, name in enumerate(names):
            entry = CATALOGUE[name]
            stored = here.get(name)
            cells = (
                name,
                entry.title,
                _megabytes(entry.size),
                entry.split,
                f"yes, {_megabytes(stored.bytes)}" if stored else "no",
            )
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setData(Qt.ItemDataRole.UserRole, name)
                self.table.setItem(row, column, item)
        self.table.resizeColumnsToContents()
        self.table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)

    def select(self, name: str) -> None:
        """Select the catalogue row of ``name``."""
        for row in range(self.table.rowCount()):
            if self.table.item(row, 0).data(Qt.ItemDataRole.UserRole) == name:
                self.table.selectRow(row)
                return

    def selected(self) -> str:
        rows = self.table.selectionModel().selectedRows()
        return str(self.table.item(rows[0].row(), 0).data(Qt.ItemDataRole.UserRole)) if rows else ""

    def _selection_changed(self) -> None:
        name = self.selected()
        if not name:
            self.details.clear()
            return
        entry = CATALOGUE[name]
        self.details.setText(f"{entry.title} — {entry.split}. Licence: {entry.licence}. Cite: {entry.citation}")
        self.download_button.setText("Open" if self._on_disk(name) else "Download")

    # -- the transfer ------------------------------------------------------------------

    @property
    def busy(self) -> bool:
        return self._future is not None

    def start(self) -> None:
        """Fetch the selected dataset (or just read it, when it is here already) on a worker thread."""
        name = self.selected()
        if not name or self.busy:
            return
        mirror = self.mirror.text().strip()
        if self.settings is not None:
            self.settings.setValue(MIRROR_KEY, mirror)
        self._cancel.clear()
        self._progress = []
        self._shown: Progress | None = None
        self._shown_at = time.monotonic()
        self._executor = self._executor or ThreadPoolExecutor(max_workers=1, thread_name_prefix="dataset-download")
        self._future = self._executor.submit(_fetch_and_load, name, mirror or None, self._progress, self._cancel)
        self._fetching = name
        self.bar.setRange(0, 0)  # busy until the first progress report gives a size
        self.bar.show()
        self.status.setStyleSheet("")
        self.status.setText(f"Fetching {name}…")
        self.download_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.table.setEnabled(False)
        self._timer.start()

    def cancel(self) -> None:
        """Stop the transfer at the next chunk; what arrived is kept for a later resume."""
        if self.busy:
            self._cancel.set()
            self.status.setText("Cancelling…")

    def _poll(self) -> None:
        if self._progress:
            latest = self._progress[-1]
            now = time.monotonic()
            if latest is not self._shown:
                self._shown, self._shown_at = latest, now
            if latest.total:
                self.bar.setRange(0, 1000)
                self.bar.setValue(int(1000 * latest.done / latest.total))
            quiet = now - self._shown_at
            if quiet >= QUIET_S:  # the rate and time left of the last report no longer hold
                amount = latest.describe().split(",")[0]
                self.status.setText(f"{amount} — no data for {quiet:.0f} s, waiting for the server")
            else:
                self.status.setText(latest.describe())
        future = self._future
        if future is None or not future.done():
            return
        self._timer.stop()
        self._future = None
        self.cancel_button.setEnabled(False)
        self.download_button.setEnabled(True)
        self.table.setEnabled(True)
        self.bar.hide()
        try:
            dataset = future.result()
        except DownloadCancelled:
            self.status.setText("Cancelled; what arrived is kept, and Download resumes from there.")
            self._fill()
            return
        except DatasetError as exc:
            self.status.setStyleSheet("color: #c62828;")
            self.status.setText(str(exc))
            self._fill()
            return
        self.name, self.dataset = self._fetching, dataset
        self.accept()

    def reject(self) -> None:
        # Closing while a transfer runs cancels it (what arrived is kept for a resume); the worker
        # stops at its next chunk or time-out on its own, so the window does not wait for it.
        if self.busy:
            self._cancel.set()
            self._future = None
            self._timer.stop()
        super().reject()

    def closeEvent(self, event: QCloseEvent) -> None:
        self.reject()
        event.accept()

    def done(self, result: int) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=False)
            self._executor = None
        super().done(result)

    @classmethod
    def choose(
        cls, parent: QWidget | None = None, settings: QSettings | None = None, name: str = ""
    ) -> tuple[str, Dataset] | None:
        """Show the dialog modally; ``(name, dataset)`` once one was fetched and read, else ``None``."""
        dialog = cls(parent, settings, name)
        if dialog.exec() == QDialog.DialogCode.Accepted and dialog.dataset is not None:
            return dialog.name, dialog.dataset
        return None
