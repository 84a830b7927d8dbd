"""Freezing layers and their learning-rate multipliers from the inspector and the canvas, undoably."""

from __future__ import annotations

import json

import pytest
from PySide6.QtGui import QUndoStack

from core.examples import example_path
from core.graph.document import LayerTraining, NetworkDocument
from core.graph.fileformat import load_network
from gui.panels.inspector import InspectorPanel


@pytest.fixture
def window_network() -> str:
    return "digits_cnn"


def frozen(document: NetworkDocument) -> set[str]:
    return {node.name for node in document.nodes if not node.training.trainable}


def test_the_inspector_freezes_a_layer_and_sets_its_multiplier(qtbot):
    document, stack = load_network(example_path("digits_cnn")), QUndoStack()
    panel = InspectorPanel()
    qtbot.addWidget(panel)
    panel.set_context(document, stack)
    panel.set_selection([document.node_by_name("conv1").id])
    view = panel.node_inspector
    assert not view.trainable.isHidden() and view.trainable.isChecked()
    view.trainable.setChecked(False)
    assert frozen(document) == {"conv1"} and stack.undoText() == "Freeze conv1"
    assert not view.lr_multiplier.isEnabled()  # a frozen layer learns at no rate
    stack.undo()
    assert frozen(document) == set() and view.trainable.isChecked()
    view.lr_multiplier.setValue(0.1)
    assert document.node_by_name("conv1").training == LayerTraining(True, 0.1)
    assert stack.undoText() == "Set learning-rate multiplier of conv1"
    panel.set_selection([document.node_by_name("relu1").id])
    assert panel.node_inspector.trainable.isHidden()  # no weights, nothing to freeze


def test_freeze_up_to_here_and_unfreeze_all_on_the_canvas(qtbot, window, tmp_path):
    document, scene = window.document, window.scene
    assert scene.freeze_up_to(document.node_by_name("conv2").id)
    assert frozen(document) == {"conv1", "conv2"}  # conv2 and the weighted layers it depends on
    assert window.undo_stack.undoText() == "Freeze up to conv2"
    scene.refresh_facts()
    item = scene.node_items[document.node_by_name("conv1").id]
    assert item.frozen and any("frozen" in line for line in item.lines)
    assert not scene.node_items[document.node_by_name("fc1").id].frozen
    path = tmp_path / "frozen.json"
    assert window._write(path)
    entries = {entry["name"]: entry for entry in json.loads(path.read_text())["layers"]}
    assert entries["conv1"]["trainable"] is False and "trainable" not in entries["fc1"]
    assert window.open_network(path) and frozen(window.document) == {"conv1", "conv2"}
    document, scene = window.document, window.scene
    assert scene.unfreeze_all() and frozen(document) == set()
    window.undo_stack.undo()
    assert frozen(document) == {"conv1", "conv2"}


def test_deleting_a_frozen_layer_and_undoing_keeps_it_frozen(window):
    document = window.document
    conv = document.node_by_name("conv1")
    document.set_training(conv.id, LayerTraining(False, 1.0))
    window.scene.clearSelection()
    window.scene.node_items[conv.id].setSelected(True)
    window.scene.delete_selection()
    assert document.node_by_name("conv1") is None
    window.undo_stack.undo()
    assert document.node_by_name("conv1").training == LayerTraining(False)
