"""Errors that escape a slot are logged, shown once, and the app keeps running."""

from __future__ import annotations

import sys
import threading

import pytest
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QPushButton

from gui import error_handler
from gui.error_handler import ErrorDialog, ErrorReporter, log_path


@pytest.fixture
def reporter(monkeypatch, qapp):
    shown = []
    monkeypatch.setattr(ErrorReporter, "_show", lambda self, summary, details: shown.append((summary, details)))
    old_hook, old_thread_hook = sys.excepthook, threading.excepthook
    reporter = error_handler.install_error_reporter()
    reporter.shown = shown
    yield reporter
    sys.excepthook, threading.excepthook = old_hook, old_thread_hook
    error_handler.log.handlers.clear()


def test_an_exception_in_a_slot_is_logged_and_shown_once(qtbot, reporter):
    button = QPushButton()
    qtbot.addWidget(button)

    def broken() -> None:
        raise ValueError("the slot broke")

    button.clicked.connect(broken)
    button.click()
    button.click()  # the same error again: logged, not shown again
    assert [summary for summary, _ in reporter.shown] == ["ValueError: the slot broke"]
    assert "in broken" in reporter.shown[0][1]  # the traceback
    for handler in error_handler.log.handlers:
        handler.flush()
    assert log_path().read_text().count("ValueError: the slot broke") == 2
    button.clicked.disconnect()
    assert button.isEnabled()  # the app goes on


def test_an_exception_in_a_thread_reaches_the_dialog(qtbot, reporter):
    thread = threading.Thread(target=lambda: 1 / 0)
    thread.start()
    thread.join()
    qtbot.waitUntil(lambda: bool(reporter.shown))
    assert reporter.shown[0][0] == "ZeroDivisionError: division by zero"


def test_the_dialog_copies_its_details(qtbot):
    dialog = ErrorDialog("KeyError: 'x'", "Traceback …\nKeyError: 'x'")
    qtbot.addWidget(dialog)
    QTimer.singleShot(0, dialog.copy_button.click)
    QTimer.singleShot(50, dialog.reject)
    dialog.exec()
    assert QApplication.clipboard().text().startswith("KeyError: 'x'\n\nTraceback")
    QApplication.clipboard().clear()
