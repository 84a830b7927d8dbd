"""The main window against the document it shows."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import onnx
from onnx import TensorProto, helper
from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import QApplication, QMessageBox

from core.examples import example_path
from gui import app as gui_app
from gui import main_window as main_window_module
from gui.main_window import MainWindow, suggested_file_name
from gui.panels.summary_panel import COLUMNS
from tests.cli.test_exporter_names import torch_named_model
from tests.conftest import ROOT


def cell(win, row_name: str, header: str) -> str:
    model = win.summary_panel.model
    column = [c.header for c in COLUMNS].index(header)
    for row in range(model.rowCount()):
        if model.index(row, 0).data() == row_name:
            return model.index(row, column).data()
    raise KeyError(row_name)


def test_shows_every_layer_of_the_open_network(window):
    assert window.windowTitle() == "LeNet-5 — lenet5.json[*] — Layerwise"
    assert window.summary_panel.model.rowCount() == len(window.document)
    assert cell(window, "conv1", "Output shape") == "6×28×28"
    assert cell(window, "conv1", "Params") == "156"
    assert cell(window, "pool2", "RF size") == "16"
    assert cell(window, "fc1", "RF size") == "–"
    assert "61,706" in window.summary_panel.totals_label.text()
    assert window.summary_panel.problems_label.isHidden()


def test_table_follows_document_edits(window):
    conv1 = window.document.node_by_name("conv1")
    window.document.set_param(conv1.id, "filters", 12)
    assert cell(window, "conv1", "Output shape") == "12×28×28"
    assert cell(window, "conv1", "Params") == f"{12 * 25 + 12:,}"
    assert cell(window, "conv2", "Params") == f"{16 * 12 * 25 + 16:,}"


def test_problem_is_shown_on_its_row_and_in_the_banner(window, tmp_path):
    data = json.loads(example_path("lenet5").read_text())
    next(l for l in data["layers"] if l["name"] == "fc1")["inputs"] = ["pool2"]
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps(data))
    assert window.open_network(broken)
    panel = window.summary_panel
    assert not panel.problems_label.isHidden()
    assert "layer 'fc1': Dense needs a feature vector" in panel.problems_label.text()
    row = next(r for r in range(panel.model.rowCount()) if panel.model.index(r, 0).data() == "fc1")
    tooltip = panel.model.index(row, 3).data(Qt.ItemDataRole.ToolTipRole)
    assert tooltip.startswith("Dense needs a feature vector")
    assert cell(window, "fc2", "Params") == "?"
    assert "totals of the 8 layers whose shapes are known" in panel.totals_label.text()


def test_a_bad_file_is_reported_and_the_open_network_kept(window, tmp_path, monkeypatch):
    shown = []
    monkeypatch.setattr(QMessageBox, "critical", lambda parent, title, text: shown.append((title, text)))
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    before = window.document
    assert not window.open_network(bad)
    assert window.document is before and window.windowTitle().startswith("LeNet-5")
    assert shown == [
        (
            "Cannot open network",
            f"{bad}: is not valid JSON: Expecting property name enclosed in double quotes at line 1, column 2",
        )
    ]


def test_example_menu_lists_every_example(window):
    file_menu = window.menuBar().actions()[0].menu()
    examples = next(a.menu() for a in file_menu.actions() if a.text() == "Open &Example")
    titles = [a.text() for a in examples.actions()]
    assert "VGG-16" in titles and "Inception block" in titles and len(titles) >= 7
    next(a for a in examples.actions() if a.text() == "VGG-16").trigger()
    assert window.document.name == "VGG-16"


def test_run_app_opens_the_requested_network(qtbot, monkeypatch, tmp_path):
    monkeypatch.setattr(QApplication, "exec", lambda self: 0)
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)  # keep the user's own settings untouched
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(tmp_path))
    assert gui_app.run_app("squeezenet_fire") == 0
    opened = [
        w
        for w in QApplication.topLevelWidgets()
        if isinstance(w, MainWindow) and w.isVisible() and w.document.name == "SqueezeNet fire module"
    ]
    assert opened
    for window in opened:
        window.undo_stack.setClean()
        window.close()


def test_missing_display_is_explained_before_qt_starts(monkeypatch, capsys):
    monkeypatch.setattr(gui_app.sys, "platform", "linux")
    monkeypatch.delenv("QT_QPA_PLATFORM", raising=False)
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    assert gui_app.run_app() == 2
    assert "no display found" in capsys.readouterr().err
    monkeypatch.setenv("DISPLAY", ":99")
    monkeypatch.setattr(gui_app.ctypes.util, "find_library", lambda name: None)
    assert "libxcb-cursor0" in gui_app.platform_problem()


def test_moving_a_node_does_not_recompute_the_summary(window, monkeypatch):
    calls = []
    monkeypatch.setattr(window.summary_panel, "refresh", lambda: calls.append(1))
    node = window.document.nodes[1]
    window.document.move_node(node.id, (500, 500))
    assert calls == []
    window.document.rename_node(node.id, "first_conv")
    assert calls == [1]


SAFE_MODE_SCRIPT = """
import json, sys
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication
app = QApplication([])
import gui.recovery
gui.recovery.find_orphans = lambda *args: sys.exit("safe mode looked for recovery files")
import main
from gui.main_window import MainWindow

def report():
    window = next(w for w in QApplication.topLevelWidgets() if isinstance(w, MainWindow) and w.isVisible())
    print(json.dumps({"title": window.windowTitle(), "settings": window.settings.fileName()}), flush=True)
    window.undo_stack.setClean()
    window.close()

QTimer.singleShot(300, report)
sys.exit(main.main(["--safe-mode", "mlp"]))
"""


def test_safe_mode_starts_with_default_settings_and_no_recovery(tmp_path):
    # In a process of its own: the app's exec() and its quit belong to the whole application.
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "LAYERWISE_DATA_DIR": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-c", SAFE_MODE_SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["title"].endswith("(safe mode)")
    assert "layerwise-safe-" in seen["settings"]


def test_closing_a_second_window_with_edits_leaves_no_error(window, qtbot):
    # A window deleted on close empties its undo stack after its widgets are gone.
    from PySide6.QtCore import QCoreApplication, QEvent

    from gui.commands import SetParamCommand

    other = window.new_window()
    other.show()
    assert other.open_network(example_path("lenet5"))
    conv = other.document.node_by_name("conv1")
    other.undo_stack.push(SetParamCommand(other.document, conv.id, "filters", 7))
    destroyed = []
    other.destroyed.connect(lambda: destroyed.append(True))
    assert other.close()
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    qtbot.wait(20)
    assert destroyed


def test_an_imported_model_keeps_its_node_names_and_says_which_it_could_not(window, monkeypatch, tmp_path):
    model = torch_named_model()
    model.graph.node[2].name = "/conv1/Conv"  # a second node of that name
    onnx.save(model, tmp_path / "model.onnx")
    chosen = (str(tmp_path / "model.onnx"), "")
    monkeypatch.setattr(main_window_module.QFileDialog, "getOpenFileName", lambda *args, **kwargs: chosen)
    window.undo_stack.setClean()
    window.import_onnx()
    assert [node.name for node in window.document.nodes] == [
        "input",
        "/conv1/Conv",
        "/relu/Relu",
        "/conv1/Conv_1",
        "/fc/Gemm",
    ]
    state = window.weights.state_dict(window.document)
    assert {"/conv1/Conv/weight", "/conv1/Conv/bias", "/fc/Gemm/weight", "/fc/Gemm/bias"} == set(state)
    message = window.statusBar().currentMessage()
    assert message.endswith(
        "5 layers; 1 renamed: Flatten node '/conv1/Conv' became layer '/conv1/Conv_1': another layer has that name"
    )


def test_import_notes_are_listed_in_a_message_over_the_imported_network(window, monkeypatch, tmp_path):
    clean = tmp_path / "clean.onnx"
    onnx.save(torch_named_model(), clean)
    # Twelve nodes of one name: eleven layers must be renamed.
    nodes = [helper.make_node("Relu", [f"t{i}"], [f"t{i + 1}"], "act") for i in range(12)]
    shape = [1, 2, 4, 4]
    graph = helper.make_graph(
        nodes,
        "chain",
        [helper.make_tensor_value_info("t0", TensorProto.FLOAT, shape)],
        [helper.make_tensor_value_info("t12", TensorProto.FLOAT, shape)],
    )
    chain = tmp_path / "chain.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), chain)
    chosen = [(str(clean), ""), (str(chain), "")]
    monkeypatch.setattr(main_window_module.QFileDialog, "getOpenFileName", lambda *args, **kwargs: chosen.pop(0))

    window.undo_stack.setClean()
    window.import_onnx()
    assert window.import_notes_box is None  # nothing to tell

    window.undo_stack.setClean()
    window.import_onnx()
    box = window.import_notes_box
    assert box is not None and box.isVisible()
    assert [node.name for node in window.document.nodes][:3] == ["t0", "act", "act_1"]
    assert box.text() == "Imported chain.onnx: 13 layers. 11 layers are not named as in the model:"
    listed = box.informativeText().splitlines()
    assert listed[0] == "• Relu node 'act' became layer 'act_1': another layer has that name"
    assert len(listed) == 9
    assert listed[-1] == "… and 3 more (Show Details… lists them all)."
    details = box.detailedText().splitlines()
    assert len(details) == 11 and details[-1] == "Relu node 'act' became layer 'act_11': another layer has that name"
    box.accept()
    assert window.import_notes_box is None
    assert "11 renamed" in window.statusBar().currentMessage()


def test_save_dialogs_suggest_a_file_name_not_a_path_from_the_network_title():
    assert suggested_file_name("LeNet-5", ".json") == "LeNet-5.json"
    assert suggested_file_name("../../etc/passwd", ".onnx") == "_.._etc_passwd.onnx"
    assert suggested_file_name("C:\\net\x00", ".json") == "C__net_.json"
    assert suggested_file_name("..", ".json") == "network.json"
    assert suggested_file_name("批次 1", ".json") == "批次 1.json"


def test_the_default_layout_gives_the_canvas_most_of_the_height(make_window, qtbot):
    win = make_window()
    win.resize(1440, 900)
    win.show()
    qtbot.waitExposed(win)
    # The docks take their default sizes once the shown window lays itself out.
    qtbot.waitUntil(lambda: win.view.height() > 2.5 * win.problems_dock.height())
    assert win.problems_dock.height() >= 150  # the problems stay readable
    assert win.view.height() > 0.65 * win.height()
    assert win.view.width() > 0.55 * win.width()


def test_see_inside_gets_room_when_raised_and_a_saved_layout_is_kept(make_window, qtbot):
    win = make_window()
    win.resize(1440, 900)
    win.show()
    qtbot.waitExposed(win)
    qtbot.waitUntil(lambda: win.view.height() > 2.5 * win.problems_dock.height())
    default_bottom = win.problems_dock.height()
    win.inside_dock.raise_()
    qtbot.waitUntil(lambda: win.inside_dock.height() > default_bottom + 50)
    assert win.inside_dock.height() <= 0.45 * win.height()
    assert win.view.height() > win.inside_dock.height()
    # The panel fills its scroll area, never below its minimum (nothing squeezed), never above the room there is.
    scroll = win.inside_dock.widget()
    minimum = scroll.minimum_content_size()
    assert scroll.widget().height() == max(scroll.viewport().height(), minimum.height())
    assert scroll.widget().width() == max(scroll.viewport().width(), minimum.width())
    grown = win.inside_dock.height()
    assert win.close()

    again = make_window()
    again.show()
    qtbot.waitExposed(again)
    qtbot.wait(20)
    assert again.inside_dock.height() == grown  # the saved layout, not the default
