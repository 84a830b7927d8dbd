"""Autosave and recovery: a real app process is killed; the next start restores its work."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import numpy as np
import pytest
from PySide6.QtWidgets import QMessageBox

from core.examples import example_path
from core.graph.fileformat import network_to_dict
from gui import app as gui_app
from gui.recovery import find_orphans
from tests.conftest import ROOT


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_work_survives_a_killed_app(make_window, tmp_path):
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "LAYERWISE_AUTOSAVE_SECONDS": "0.3"}
    driver = subprocess.Popen(
        [sys.executable, "-m", "tests.gui.recovery_driver", str(tmp_path)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        saved = json.loads(driver.stdout.readline())
        assert driver.stdout.readline().strip() == "ready"
        assert not find_orphans(tmp_path), "a running app's recovery file is not offered"
        driver.send_signal(signal.SIGKILL)
        driver.wait(10)
    finally:
        driver.kill()
    orphans = find_orphans(tmp_path)
    assert len(orphans) == 1 and orphans[0].snapshot is not None
    assert orphans[0].snapshot.network == saved["network"]

    window = make_window(None, data_dir=tmp_path)
    window.restore_snapshot(orphans[0].snapshot)
    orphans[0].discard()
    restored = network_to_dict(window.document)
    assert restored == saved["network"]  # the canvas at the last autosave, positions included
    assert window.document.node_by_name("fc1").layer.params["units"] != 7  # the edit after it is lost
    weights = window.weights.state_dict(window.document)
    assert {key: float(value.astype(np.float64).sum()) for key, value in weights.items()} == saved["weights"]
    assert [run.name for run in window.training_panel.runs] == saved["runs"]
    assert window.isWindowModified(), "restored work is unsaved work"
    window.undo_stack.setClean()
    window.weights_modified = False
    window.close()
    assert not find_orphans(tmp_path), "a window that closed normally leaves nothing behind"


def test_a_window_with_nothing_unsaved_keeps_no_recovery_file(make_window, tmp_path):
    window = make_window(None, data_dir=tmp_path)
    window.open_network(example_path("lenet5"))
    window.autosaver.save_now()
    assert not window.autosaver.path.exists()
    conv1 = window.document.node_by_name("conv1")
    window.document.move_node(conv1.id, (10.0, 20.0))
    window.undo_stack.resetClean()
    window.autosaver.save_now()
    assert window.autosaver.path.exists()
    window.undo_stack.setClean()
    window.close()
    assert not window.autosaver.path.exists()


def test_startup_offers_restore_and_discard(make_window, tmp_path, monkeypatch):
    first = make_window(None, data_dir=tmp_path)
    first.open_network(example_path("mlp"))
    first.document.name = "Half-built MLP"
    first.undo_stack.resetClean()
    first.autosaver.save_now()
    first.autosaver._lock.unlock()  # as if its process had died
    orphans = find_orphans(tmp_path)
    assert [o.snapshot.network["name"] for o in orphans] == ["Half-built MLP"]

    second = make_window(None, data_dir=tmp_path)
    asked = []
    monkeypatch.setattr(
        QMessageBox, "question", lambda *args, **kwargs: asked.append(args[2]) or QMessageBox.StandardButton.Yes
    )
    gui_app.offer_recovery(second, orphans)
    assert "Half-built MLP" in asked[0]
    assert second.document.name == "Half-built MLP" and second.isWindowModified()
    for window in (first, second):
        window.undo_stack.setClean()
        window.autosaver.timer.stop()


def test_an_unreadable_recovery_file_is_set_aside_with_a_message(make_window, tmp_path, monkeypatch):
    recovery = tmp_path / "recovery"
    recovery.mkdir()
    (recovery / "broken.lwrecovery").write_bytes(b"not a zip")
    orphans = find_orphans(tmp_path)
    assert orphans[0].snapshot is None and "broken.lwrecovery" in orphans[0].problem
    window = make_window(None, data_dir=tmp_path)
    warnings = []
    monkeypatch.setattr(QMessageBox, "warning", lambda *args, **kwargs: warnings.append(args[2]))
    gui_app.offer_recovery(window, orphans)
    assert "broken.lwrecovery" in warnings[0]
    assert (recovery / "broken.unreadable").exists() and not find_orphans(tmp_path)
