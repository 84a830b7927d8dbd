"""A real app process for the recovery test: train, edit, autosave, edit again, wait to be killed.

Run as ``python -m tests.gui.recovery_driver DATA_DIR``; it prints one JSON line with the
network and weights as they were at the last autosave, then ``ready``.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication

from core.examples import example_path
from core.graph.fileformat import network_to_dict
from gui.commands import RenameNodeCommand, SetParamCommand
from gui.main_window import MainWindow


def wait(app: QApplication, condition, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit("timed out")
        app.processEvents()
        time.sleep(0.01)


def main() -> None:
    data_dir = Path(sys.argv[1])
    app = QApplication([])
    window = MainWindow(QSettings(str(data_dir / "settings.ini"), QSettings.Format.IniFormat), "thread", data_dir)
    window.open_network(example_path("digits_cnn"))
    document, panel = window.document, window.training_panel
    panel.form.set_values({"epochs": 1, "subset": 200})
    panel.start()
    wait(app, lambda: not panel.is_training)
    saves = window.autosaver.saves
    window.undo_stack.push(SetParamCommand(document, document.node_by_name("conv1").id, "filters", 12))
    window.undo_stack.push(RenameNodeCommand(document, document.node_by_name("fc2").id, "classifier"))
    wait(app, lambda: window.autosaver.saves > saves)  # the timer's autosave
    weights = window.weights.state_dict(document)
    print(
        json.dumps(
            {
                "network": network_to_dict(document),
                "weights": {key: float(value.astype("float64").sum()) for key, value in weights.items()},
                "runs": [run.name for run in panel.runs],
            }
        ),
        flush=True,
    )
    window.autosaver.timer.stop()  # what follows is never autosaved: a kill must lose it
    window.undo_stack.push(SetParamCommand(document, document.node_by_name("fc1").id, "units", 7))
    print("ready", flush=True)
    while True:
        app.processEvents()
        time.sleep(0.05)


if __name__ == "__main__":
    main()
