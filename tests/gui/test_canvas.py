"""The canvas and window against the document they change."""

from __future__ import annotations

import json

import pytest
from PySide6.QtCore import QEvent, QMimeData, QPoint, QPointF, Qt
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QMouseEvent
from PySide6.QtWidgets import QApplication, QMessageBox

from core.examples import example_path
from core.graph.events import Edge
from core.graph.fileformat import load_network, network_to_dict
from core.graph.validation import validate
from gui.commands import (
    AddNodeCommand,
    ConnectCommand,
    DisconnectCommand,
    InsertFragmentCommand,
    MoveNodesCommand,
    RemoveNodesCommand,
    RenameNodeCommand,
    SetParamCommand,
)
from gui.panels.palette import LAYER_MIME_TYPE


def snapshot(window):
    return json.dumps(network_to_dict(window.document), sort_keys=True)


def send_mouse(widget, kind, pos, button=Qt.MouseButton.LeftButton, buttons=Qt.MouseButton.LeftButton):
    point = QPointF(pos)
    event = QMouseEvent(kind, point, widget.mapToGlobal(point), button, buttons, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, event)


def drop_layer(window, type_name, view_pos=QPoint(300, 200)):
    data = QMimeData()
    data.setData(LAYER_MIME_TYPE, type_name.encode("utf-8"))
    viewport = window.view.viewport()
    enter = QDragEnterEvent(
        view_pos, Qt.DropAction.CopyAction, data, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    )
    QApplication.sendEvent(viewport, enter)
    drop = QDropEvent(
        QPointF(view_pos), Qt.DropAction.CopyAction, data, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    )
    QApplication.sendEvent(viewport, drop)
    return enter.isAccepted()


def test_a_palette_drop_creates_the_layer_where_it_was_dropped(window):
    before = len(window.document)
    assert drop_layer(window, "BatchNorm")
    assert len(window.document) == before + 1
    node = window.document.nodes[-1]
    expected = window.view.mapToScene(QPoint(300, 200))
    assert node.type_name == "BatchNorm" and node.position == pytest.approx((expected.x(), expected.y()), abs=1)
    assert window.scene.node_items[node.id].isSelected()
    window.undo_stack.undo()
    assert len(window.document) == before


def test_foreign_drop_data_is_refused(window):
    before = snapshot(window)
    drop_layer(window, "os.system")
    assert snapshot(window) == before and window.undo_stack.count() == 0


def test_dragging_from_an_output_port_to_a_node_creates_an_edge(window):
    doc = window.document
    extra = doc.node_by_name("input")
    window.undo_stack.push(AddNodeCommand(doc, "ReLU", None, (400, 0), name="side"))
    side = window.scene.node_items[doc.node_by_name("side").id]
    window.scene.refresh_facts()
    window.view.resetTransform()
    window.view.centerOn(QPointF(200, 0))  # both nodes on screen
    viewport = window.view
    start = viewport.mapFromScene(window.scene.node_items[extra.id].output_port_position())
    end = viewport.mapFromScene(side.input_port_position(0))
    vp = window.view.viewport()
    send_mouse(vp, QEvent.Type.MouseButtonPress, start)
    send_mouse(vp, QEvent.Type.MouseMove, (start + end) / 2)
    send_mouse(vp, QEvent.Type.MouseMove, end)
    send_mouse(vp, QEvent.Type.MouseButtonRelease, end, buttons=Qt.MouseButton.NoButton)
    assert [n.name for n in doc.inputs_of(side.node_id)] == ["input"]
    assert len(window.scene.edge_items) == len(doc.edges)


def test_dragging_from_the_second_output_of_a_split_connects_that_output(window):
    doc, scene = window.document, window.scene
    window.undo_stack.push(AddNodeCommand(doc, "ChannelSplit", {"parts": 3}, (400, 0), name="split"))
    window.undo_stack.push(AddNodeCommand(doc, "ReLU", None, (400, 200), name="side"))
    split, side = doc.node_by_name("split"), doc.node_by_name("side")
    window.undo_stack.push(ConnectCommand(doc, doc.node_by_name("conv1").id, split.id))
    scene.refresh_facts()
    item = scene.node_items[split.id]
    ports = [item.output_port_position(port) for port in range(3)]
    assert len({(p.x(), p.y()) for p in ports}) == 3  # spread along the bottom edge
    assert all(item.sceneBoundingRect().contains(p) for p in ports)  # the node is wide enough for them
    window.view.resetTransform()
    window.view.centerOn(QPointF(400, 100))
    start = window.view.mapFromScene(ports[1])
    end = window.view.mapFromScene(scene.node_items[side.id].input_port_position(0))
    assert item.output_port_at(window.view.mapToScene(start)) == 1
    steps = window.undo_stack.count()
    vp = window.view.viewport()
    send_mouse(vp, QEvent.Type.MouseButtonPress, start)
    send_mouse(vp, QEvent.Type.MouseMove, (start + end) / 2)
    send_mouse(vp, QEvent.Type.MouseMove, end)
    send_mouse(vp, QEvent.Type.MouseButtonRelease, end, buttons=Qt.MouseButton.NoButton)
    assert doc.input_edges(side.id) == [Edge(split.id, side.id, 0, 1)]
    assert window.undo_stack.count() == steps + 1
    edge_item = scene.edge_items[Edge(split.id, side.id, 0, 1)]
    assert edge_item.path().pointAtPercent(0) == ports[1]  # drawn from the output it leaves
    scene.refresh_facts()
    assert edge_item.label == "2×28×28"
    assert item.lines[1] == "→ 3 × 2×28×28"
    window.undo_stack.undo()
    assert doc.input_edges(side.id) == [] and len(scene.edge_items) == len(doc.edges)
    window.undo_stack.redo()
    assert doc.input_edges(side.id) == [Edge(split.id, side.id, 0, 1)]


def test_deleting_and_undoing_keeps_the_output_each_edge_leaves(window):
    doc = window.document
    window.undo_stack.push(AddNodeCommand(doc, "ChannelSplit", {"parts": 3}, (400, 0), name="split"))
    window.undo_stack.push(AddNodeCommand(doc, "Concat", None, (400, 200), name="join"))
    split, join = doc.node_by_name("split").id, doc.node_by_name("join").id
    window.undo_stack.push(ConnectCommand(doc, doc.node_by_name("conv1").id, split))
    for port in (2, 0):
        window.undo_stack.push(ConnectCommand(doc, split, join, source_port=port))
    before = snapshot(window)
    window.undo_stack.push(SetParamCommand(doc, split, "parts", 2))  # output 3 is gone: a problem, no crash
    assert [p.node_name for p in validate(doc)] == ["split"]
    window.scene.refresh_facts()
    window.undo_stack.push(RemoveNodesCommand(doc, [split]))  # with the edge from the missing output
    window.undo_stack.undo()
    assert [p.node_name for p in validate(doc)] == ["split"]
    window.undo_stack.undo()
    assert snapshot(window) == before
    assert [e.source_port for e in doc.input_edges(join)] == [2, 0]
    window.undo_stack.push(DisconnectCommand(doc, doc.input_edges(join)[0]))
    window.undo_stack.undo()
    assert snapshot(window) == before


def test_a_refused_connection_leaves_the_document_unchanged(window, qtbot):
    doc = window.document
    before = snapshot(window)
    with qtbot.waitSignal(window.scene.connection_refused) as signal:
        assert not window.scene.try_connect(doc.node_by_name("pool2").id, doc.node_by_name("fc2").id)
    assert "already fed by" in signal.args[0]
    assert not window.scene.try_connect(doc.node_by_name("fc3").id, doc.node_by_name("conv1").id)
    assert snapshot(window) == before and window.undo_stack.count() == 0


def test_every_command_undoes_and_redoes_to_an_identical_document(window):
    doc = window.document
    conv1, pool1 = doc.node_by_name("conv1"), doc.node_by_name("pool1")
    fragment = {
        "layers": [
            {"name": "extra", "type": "ReLU", "position": [0, 0]},
            {"name": "extra_bn", "type": "BatchNorm", "inputs": ["extra"]},
        ]
    }
    commands = [
        lambda: AddNodeCommand(doc, "Dropout", {"rate": 0.25}, (10, 20)),
        lambda: MoveNodesCommand(doc, {conv1.id: (conv1.position, (5.0, 6.0)), pool1.id: (pool1.position, (7.0, 8.0))}),
        lambda: SetParamCommand(doc, conv1.id, "filters", 12),
        lambda: RenameNodeCommand(doc, conv1.id, "first"),
        lambda: RemoveNodesCommand(doc, [pool1.id, doc.node_by_name("relu2").id]),
        lambda: InsertFragmentCommand(doc, fragment, (100, 100), wire_from=doc.node_by_name("input").id),
    ]
    for make in commands:
        before = snapshot(window)
        window.undo_stack.push(make())
        after = snapshot(window)
        assert after != before
        window.undo_stack.undo()
        assert snapshot(window) == before
        window.undo_stack.redo()
        assert snapshot(window) == after
    window.undo_stack.setIndex(0)
    assert snapshot(window) == json.dumps(network_to_dict(load_network(example_path("lenet5"))), sort_keys=True)


def test_delete_removes_the_edges_too_and_undo_restores_them(window):
    doc = window.document
    before = snapshot(window)
    window.scene.node_items[doc.node_by_name("conv2").id].setSelected(True)
    window.scene.delete_selection()
    assert doc.node_by_name("conv2") is None
    assert all("conv2" not in (doc.node(e.source).name, doc.node(e.target).name) for e in doc.edges)
    assert len(window.scene.edge_items) == len(doc.edges)
    window.undo_stack.undo()
    assert snapshot(window) == before


def test_consecutive_edits_of_one_field_are_one_undo_step(window):
    conv1 = window.document.node_by_name("conv1")
    for value in (7, 8, 9):
        window.undo_stack.push(SetParamCommand(window.document, conv1.id, "filters", value))
    assert window.undo_stack.count() == 1
    window.undo_stack.undo()
    assert conv1.layer.params["filters"] == 6


def test_save_then_open_gives_the_same_document(window, tmp_path):
    window.undo_stack.push(SetParamCommand(window.document, window.document.node_by_name("conv1").id, "filters", 10))
    path = tmp_path / "edited.json"
    assert window._write(path)
    saved = snapshot(window)
    assert window.open_network(path)
    assert snapshot(window) == saved
    assert str(path.resolve()) in window._recent()


def test_the_title_mark_follows_the_undo_stack(window, monkeypatch):
    assert not window.isWindowModified() and window.windowTitle() == "LeNet-5 — lenet5.json[*] — Layerwise"
    window.undo_stack.push(RenameNodeCommand(window.document, window.document.node_by_name("fc1").id, "hidden"))
    assert window.isWindowModified()
    window.undo_stack.undo()
    assert not window.isWindowModified()
    window.undo_stack.redo()
    asked = []
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: asked.append(1) or QMessageBox.StandardButton.Cancel)
    assert not window.open_network(example_path("mlp"))
    assert asked and window.document.name == "LeNet-5"


def test_copy_paste_duplicates_the_selection_with_its_inner_edges(window):
    doc = window.document
    for name in ("conv2", "relu2"):
        window.scene.node_items[doc.node_by_name(name).id].setSelected(True)
    before = len(doc)
    window.copy()
    window.scene.clearSelection()
    window.paste()
    assert len(doc) == before + 2
    pasted = [doc.node(i) for i in window.scene.selected_node_ids()]
    assert sorted(n.type_name for n in pasted) == ["Conv2D", "ReLU"]
    relu = next(n for n in pasted if n.type_name == "ReLU")
    assert [n.type_name for n in doc.inputs_of(relu.id)] == ["Conv2D"]
    window.undo_stack.undo()
    assert len(doc) == before


def test_duplicating_a_split_keeps_the_output_each_inner_edge_leaves(window):
    doc = window.document
    window.undo_stack.push(AddNodeCommand(doc, "ChannelSplit", {"parts": 3}, (400, 0), name="split"))
    window.undo_stack.push(AddNodeCommand(doc, "ReLU", None, (400, 200), name="side"))
    split, side = doc.node_by_name("split").id, doc.node_by_name("side").id
    window.undo_stack.push(ConnectCommand(doc, doc.node_by_name("conv1").id, split))
    window.undo_stack.push(ConnectCommand(doc, split, side, source_port=2))
    window.scene.clearSelection()
    for node_id in (split, side):
        window.scene.node_items[node_id].setSelected(True)
    window.duplicate()
    copies = {doc.node(i).type_name: doc.node(i) for i in window.scene.selected_node_ids()}
    assert set(copies) == {"ChannelSplit", "ReLU"}
    assert doc.input_edges(copies["ReLU"].id) == [Edge(copies["ChannelSplit"].id, copies["ReLU"].id, 0, 2)]


def test_insert_block_is_wired_to_the_selection(window):
    doc = window.document
    window.scene.node_items[doc.node_by_name("pool1").id].setSelected(True)
    before = len(doc)
    window.insert_block("resnet_block", "ResNet block")
    assert len(doc) == before + 16
    first = doc.node_by_name("block1_conv1")
    assert [n.name for n in doc.inputs_of(first.id)] == ["pool1"]


def test_auto_layout_is_one_undo_step_without_overlaps(window):
    doc = window.document
    for node in doc.nodes:
        doc.move_node(node.id, (0.0, 0.0))
    window.auto_layout()
    positions = [n.position for n in doc.nodes]
    assert len(set(positions)) == len(positions)
    window.undo_stack.undo()
    assert {n.position for n in doc.nodes} == {(0.0, 0.0)}


def test_copy_in_one_window_paste_in_another(window):
    other = window.new_window()
    try:
        window.scene.node_items[window.document.node_by_name("conv1").id].setSelected(True)
        window.copy()
        other.paste()
        assert [n.type_name for n in other.document.nodes] == ["Conv2D"]
        assert other.isWindowModified()
    finally:
        other.undo_stack.setClean()
        other.close()


def test_the_canvas_follows_a_dark_palette(window):
    from PySide6.QtGui import QColor, QPalette

    from gui.canvas.style import DARK, LIGHT

    assert window.scene.theme == LIGHT
    dark = QPalette(window.view.palette())
    dark.setColor(QPalette.ColorRole.Window, QColor("#202124"))
    window.view.setPalette(dark)  # the view only: the rest of the suite keeps its palette
    assert window.scene.theme == DARK
    assert window.scene.backgroundBrush().color() == QColor(DARK.background)
    window.view.setPalette(QPalette())
    assert window.scene.theme == LIGHT
