"""Shared set-up of the GUI tests: main windows on example networks."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QMessageBox

from core.examples import example_path
from gui.main_window import MainWindow, release_clipboard
from gui.workers.training_worker import WorkerMode

WindowFactory = Callable[..., MainWindow]


def _forget_edits(win: MainWindow) -> None:
    """Stop training and drop the edits, so that closing after the test asks nothing.

    A test may leave ``QMessageBox.question`` patched to answer "Save".
    """
    win.training_panel.shutdown()
    win.undo_stack.clear()
    win.weights_modified = False


@pytest.fixture
def make_window(qtbot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[WindowFactory]:
    """``make_window(network="lenet5", mode="thread", data_dir=None)`` builds a main window.

    Each window keeps its settings in ``tmp_path`` and opens the example ``network``
    (nothing for ``None``). Closing a window with edits asks to save; these windows
    discard. After the test each is closed without asking.
    """
    monkeypatch.setattr(QMessageBox, "question", lambda *args, **kwargs: QMessageBox.StandardButton.Discard)

    def make(network: str | None = "lenet5", mode: WorkerMode = "thread", data_dir: Path | None = None) -> MainWindow:
        win = MainWindow(QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat), mode, data_dir)
        qtbot.addWidget(win, before_close_func=_forget_edits)
        if network is not None:
            assert win.open_network(example_path(network))
        return win

    yield make
    release_clipboard()


@pytest.fixture
def window_network() -> str:
    """The example the ``window`` fixture opens; a test module overrides this fixture to open another."""
    return "lenet5"


@pytest.fixture
def window(make_window: WindowFactory, window_network: str) -> MainWindow:
    """A shown 1200×800 main window on the example ``window_network``, training in a thread."""
    win = make_window(window_network)
    win.resize(1200, 800)
    win.show()
    return win
