"""A layer's training settings: frozen or not, its learning-rate multiplier, in the document and the file."""

from __future__ import annotations

import json

import pytest

from core.errors import NetworkFileError, ParamError
from core.examples import example_path
from core.graph.copying import copy_network
from core.graph.document import LayerTraining
from core.graph.events import TrainingChanged
from core.graph.fileformat import dumps_network, load_network, loads_network


def digits():
    return load_network(example_path("digits_cnn"))


def test_settings_are_checked_and_changes_are_announced():
    assert LayerTraining().is_default and LayerTraining(False).update_scale == 0.0
    assert LayerTraining(True, 0.25).update_scale == 0.25
    with pytest.raises(ParamError, match="lr_multiplier must be a number from 0 to 10, got 11"):
        LayerTraining(True, 11)
    with pytest.raises(ParamError, match="trainable must be true or false"):
        LayerTraining("no")  # type: ignore[arg-type]
    document = digits()
    events: list = []
    document.subscribe(events.append)
    conv = document.node_by_name("conv1")
    document.set_training(conv.id, LayerTraining(False))
    document.set_training(conv.id, LayerTraining(False))  # unchanged: no event
    assert events == [TrainingChanged(conv.id, LayerTraining(), LayerTraining(False))]


def test_files_keep_them_and_stay_version_1_without_them():
    document = digits()
    assert json.loads(dumps_network(document))["version"] == 1
    document.set_training(document.node_by_name("conv1").id, LayerTraining(False))
    document.set_training(document.node_by_name("fc1").id, LayerTraining(True, 0.1))
    data = json.loads(dumps_network(document))
    assert data["version"] == 2
    entries = {entry["name"]: entry for entry in data["layers"]}
    assert entries["conv1"]["trainable"] is False and "lr_multiplier" not in entries["conv1"]
    assert entries["fc1"]["lr_multiplier"] == 0.1 and "trainable" not in entries["fc1"]
    assert "trainable" not in entries["conv2"] and "lr_multiplier" not in entries["conv2"]
    again = loads_network(dumps_network(document))
    assert {node.name: node.training for node in again.nodes} == {node.name: node.training for node in document.nodes}
    copy = copy_network(document, keep_ids=False)
    assert copy.node_by_name("conv1").training == LayerTraining(False)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("trainable", "no", "layer 'conv1' (layers[1]): field \"trainable\" must be true or false"),
        ("lr_multiplier", -1, 'field "lr_multiplier" must be a number from 0 to 10, got -1'),
        ("lr_multiplier", True, 'field "lr_multiplier" must be a number from 0 to 10'),
    ],
)
def test_bad_values_are_refused_naming_the_layer_and_field(field, value, message):
    data = json.loads(dumps_network(digits()))
    data["layers"][1][field] = value
    with pytest.raises(NetworkFileError) as info:
        loads_network(json.dumps(data))
    assert message in str(info.value)
