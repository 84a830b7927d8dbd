"""Catch what escapes any slot: log it, show it once, keep the app running.

PySide6 hands an exception raised in a Python slot to :func:`sys.excepthook` and carries
on; so does :func:`threading.excepthook` for threads. Both are replaced here: the
traceback goes to a log file in the user's data directory, and a dialog says what went
wrong (once per distinct error, so a failing paint handler cannot flood the screen),
with a button that copies the details for a bug report.
"""

from __future__ import annotations

import html
import logging
import sys
import threading
import traceback
from logging.handlers import RotatingFileHandler
from pathlib import Path
from types import TracebackType

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import QApplication, QDialog, QDialogButtonBox, QLabel, QPlainTextEdit, QVBoxLayout, QWidget

from core.data.store import data_root

log = logging.getLogger("layerwise")

LOG_NAME = "layerwise.log"


def user_data_dir() -> Path:
    """Where logs and recovery files live (:func:`core.data.store.data_root`), created if needed."""
    path = data_root()
    path.mkdir(parents=True, exist_ok=True)
    return path


def log_path() -> Path:
    return user_data_dir() / LOG_NAME


class _Relay(QObject):
    """Carries an exception from another thread to the GUI thread (a queued signal)."""

    raised = Signal(object, object, object)


class ErrorReporter:
    """Installed once per application; see the module docstring."""

    def __init__(self, parent: QWidget | None = None) -> None:
        self.parent = parent
        self._relay = _Relay()  # created in the GUI thread, so its slot runs there
        self._relay.raised.connect(self.handle)
        self.seen: set[tuple[str, str]] = set()
        self.reported: list[str] = []
        """Summaries of the errors shown so far (for tests and the log)."""
        self._showing = False

    def install(self) -> None:
        sys.excepthook = self.handle
        threading.excepthook = self._handle_thread
        handler = RotatingFileHandler(log_path(), maxBytes=1_000_000, backupCount=3, encoding="utf-8")
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)

    def _handle_thread(self, args: threading.ExceptHookArgs) -> None:
        if args.exc_type is SystemExit or args.exc_value is None:
            return
        # Widgets belong to the GUI thread: report from there.
        self._relay.raised.emit(args.exc_type, args.exc_value, args.exc_traceback)

    def handle(self, kind: type[BaseException], error: BaseException, trace: TracebackType | None) -> None:
        """Log ``error`` with its traceback; show it unless an identical one was shown before."""
        if issubclass(kind, KeyboardInterrupt):
            QApplication.quit()
            return
        details = "".join(traceback.format_exception(kind, error, trace))
        log.error("unexpected error\n%s", details)
        key = (kind.__name__, str(error))
        if key in self.seen or self._showing:
            return
        self.seen.add(key)
        summary = f"{kind.__name__}: {error}"
        self.reported.append(summary)
        self._show(summary, details)

    def _show(self, summary: str, details: str) -> None:
        if QApplication.instance() is None:
            print(details, file=sys.stderr)
            return
        self._showing = True
        try:
            ErrorDialog(summary, details, self.parent).exec()
        finally:
            self._showing = False


class ErrorDialog(QDialog):
    """What went wrong, where it is logged, the traceback, and a button that copies it."""

    def __init__(self, summary: str, details: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Something went wrong")
        self.report = f"{summary}\n\n{details}"
        message = QLabel(
            "Layerwise hit an unexpected error and carried on; your work is still open.<br><br>"
            f"<b>{html.escape(summary)}</b><br><br>The details are logged in {html.escape(str(log_path()))}."
        )
        message.setWordWrap(True)
        message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.details = QPlainTextEdit(details)
        self.details.setReadOnly(True)
        self.details.setMinimumSize(560, 180)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.copy_button = buttons.addButton("Copy details", QDialogButtonBox.ButtonRole.ActionRole)
        self.copy_button.clicked.connect(self.copy)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(message)
        layout.addWidget(self.details)
        layout.addWidget(buttons)

    def copy(self) -> None:
        QApplication.clipboard().setText(self.report)


def install_error_reporter(parent: QWidget | None = None) -> ErrorReporter:
    reporter = ErrorReporter(parent)
    reporter.install()
    return reporter
