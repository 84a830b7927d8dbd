"""The main window: the open network, its summary, and the File menu."""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QIcon, QKeySequence
from PySide6.QtWidgets import QFileDialog, QLabel, QMainWindow, QMessageBox, QVBoxLayout, QWidget

from core.errors import LayerwiseError
from core.examples import RESOURCES_DIR, example_names, example_path
from core.graph.document import NetworkDocument
from core.graph.fileformat import load_network
from gui.panels.summary_panel import SummaryPanel

log = logging.getLogger(__name__)

APP_NAME = "Layerwise"
NETWORK_FILTER = "Layerwise networks (*.json);;All files (*)"


class MainWindow(QMainWindow):
    """One window per open network."""

    def __init__(self) -> None:
        super().__init__()
        self.document = NetworkDocument()
        self.path: Path | None = None
        self.setWindowIcon(QIcon(str(RESOURCES_DIR / "icons" / "layerwise.svg")))
        self.resize(1180, 720)

        self.heading = QLabel()
        self.heading.setTextFormat(Qt.TextFormat.RichText)
        self.heading.setWordWrap(True)
        self.summary_panel = SummaryPanel()
        central = QWidget()
        layout = QVBoxLayout(central)
        layout.setContentsMargins(12, 10, 12, 8)
        layout.setSpacing(8)
        layout.addWidget(self.heading)
        layout.addWidget(self.summary_panel, 1)
        self.setCentralWidget(central)
        self._build_menus()
        self.set_document(self.document, None)

    def _build_menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        self.open_action = QAction("&Open…", self, shortcut=QKeySequence.StandardKey.Open)
        self.open_action.triggered.connect(self.choose_and_open)
        file_menu.addAction(self.open_action)
        examples = file_menu.addMenu("Open &Example")
        for name in example_names():
            title = _example_title(name)
            action = examples.addAction(title)
            action.triggered.connect(lambda _checked=False, n=name: self.open_network(example_path(n)))
        file_menu.addSeparator()
        quit_action = QAction("&Quit", self, shortcut=QKeySequence.StandardKey.Quit)
        quit_action.triggered.connect(self.close)
        file_menu.addAction(quit_action)
        help_menu = self.menuBar().addMenu("&Help")
        about = help_menu.addAction("&About Layerwise")
        about.triggered.connect(self.show_about)

    # -- documents -------------------------------------------------------------------

    def set_document(self, document: NetworkDocument, path: Path | None) -> None:
        self.document, self.path = document, path
        self.summary_panel.set_document(document)
        where = f" — {path.name}" if path else ""
        self.setWindowTitle(f"{document.name}{where} — {APP_NAME}")
        description = f"<br><span style='color:#555'>{_escape(document.description)}</span>" if document.description else ""
        self.heading.setText(f"<span style='font-size:15pt; font-weight:600'>{_escape(document.name)}</span>{description}")

    def open_network(self, path: str | Path) -> bool:
        """Open ``path``; on failure show why and keep the current network. Returns success."""
        path = Path(path)
        try:
            document = load_network(path)
        except LayerwiseError as exc:
            log.info("could not open %s: %s", path, exc)
            QMessageBox.critical(self, "Cannot open network", str(exc))
            return False
        self.set_document(document, path)
        return True

    def choose_and_open(self) -> None:
        start = str(self.path.parent if self.path else Path.home())
        chosen, _ = QFileDialog.getOpenFileName(self, "Open network", start, NETWORK_FILTER)
        if chosen:
            self.open_network(chosen)

    def show_about(self) -> None:
        QMessageBox.about(
            self,
            f"About {APP_NAME}",
            f"<b>{APP_NAME}</b><p>Build, train, understand and export convolutional networks.</p>",
        )


def _example_title(name: str) -> str:
    try:
        return load_network(example_path(name)).name
    except LayerwiseError:
        return name


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
