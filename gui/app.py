"""Start the app: check that Qt can run here, create the window, open a network."""

from __future__ import annotations

import ctypes.util
import os
import sys

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


def run_app(network: str | None = None) -> int:
    """Open the main window on ``network`` (a path or example name; LeNet-5 by default)."""
    problem = platform_problem()
    if problem:
        print(f"layerwise: {problem}", file=sys.stderr)
        return 2

    from PySide6.QtWidgets import QApplication

    from gui.main_window import MainWindow

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("Layerwise")
    app.setOrganizationName("Layerwise")
    window = MainWindow()
    target = resolve_network_path(network) if network else example_path(DEFAULT_EXAMPLE)
    window.open_network(target)
    window.show()
    return app.exec()
