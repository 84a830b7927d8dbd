"""Start the app: check that Qt can run here, create the window, open a network."""

from __future__ import annotations

import ctypes.util
import os
import sys
import time
from pathlib import Path

from core.examples import DEFAULT_EXAMPLE, example_path, resolve_network_path


def platform_problem() -> str | None:
    """Explain why Qt's window system cannot start here, before Qt aborts the process.

    Qt's xcb platform plugin kills the process when its libraries or the display are
    missing; checking first lets us print what to do instead.
    """
    if not sys.platform.startswith("linux"):
        return None
    platform = os.environ.get("QT_QPA_PLATFORM", "")
    if platform and not platform.startswith("xcb"):
        return None
    if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
        return (
            "no display found (DISPLAY is not set). Run Layerwise in a desktop session, "
            "or set QT_QPA_PLATFORM=offscreen to run without a window."
        )
    if not os.environ.get("WAYLAND_DISPLAY") and ctypes.util.find_library("xcb-cursor") is None:
        return (
            "Qt needs the system library libxcb-cursor0, which is missing. "
            "Install it with `sudo apt-get install libxcb-cursor0` (or run `make run`, which does)."
        )
    return None


def run_app(network: str | None = None, safe_mode: bool = False) -> int:
    """Open the main window on ``network`` (a path or example name; LeNet-5 by default).

    With ``safe_mode`` the app starts with default settings and window layout and does
    not look for recovery files (for when something in them keeps it from starting).
    """
    problem = platform_problem()
    if problem:
        print(f"layerwise: {problem}", file=sys.stderr)
        return 2

    import tempfile

    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from gui.error_handler import install_error_reporter, user_data_dir
    from gui.main_window import MainWindow
    from gui.recovery import find_orphans

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("Layerwise")
    app.setOrganizationName("Layerwise")
    reporter = install_error_reporter()
    if safe_mode:
        settings = QSettings(
            str(Path(tempfile.mkdtemp(prefix="layerwise-safe-")) / "settings.ini"), QSettings.Format.IniFormat
        )
        window = MainWindow(settings)
    else:
        window = MainWindow()
    reporter.parent = window
    target = resolve_network_path(network) if network else example_path(DEFAULT_EXAMPLE)
    window.open_network(target)
    if safe_mode:
        window.setWindowTitle(window.windowTitle() + " (safe mode)")
    window.show()
    if not safe_mode:
        orphans = find_orphans(user_data_dir())
        if orphans:
            offer_recovery(window, orphans)
    return app.exec()


def offer_recovery(window, orphans) -> None:
    """Ask whether to restore what apps that did not close normally left behind."""
    from PySide6.QtWidgets import QMessageBox

    readable = [orphan for orphan in orphans if orphan.snapshot is not None]
    for orphan in orphans:
        if orphan.snapshot is None:
            QMessageBox.warning(
                window,
                "Recovery file unreadable",
                f"A recovery file could not be read and is set aside:\n{orphan.problem}",
            )
            orphan.path.rename(orphan.path.with_suffix(".unreadable"))
    if not readable:
        return
    when = time.strftime("%H:%M on %d %b", time.localtime(readable[0].snapshot.saved_at))
    names = ", ".join(repr(o.snapshot.network.get("name", "untitled")) for o in readable)
    answer = QMessageBox.question(
        window,
        "Restore unsaved work?",
        f"Layerwise did not close normally. Restore the unsaved work on {names} (autosaved at {when})?",
        QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Discard,
    )
    if answer != QMessageBox.StandardButton.Yes:
        for orphan in readable:
            orphan.discard()
        return
    targets = [window] + [window.new_window() for _ in readable[1:]]
    for target, orphan in zip(targets, readable):
        target.restore_snapshot(orphan.snapshot)
        orphan.discard()
