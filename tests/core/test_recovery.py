"""Recovery snapshots: one atomic file with the network, its weights and its runs."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

from core.engine.model import Model
from core.examples import example_path
from core.graph.fileformat import load_network, network_to_dict
from core.recovery import RecoveryError, RecoverySnapshot, read_snapshot, write_snapshot
from core.training.events import (
    ActivationsMeasured,
    EarlyStopChecked,
    EpochEnded,
    SettingChanged,
    TrainingFinished,
    TrainingStarted,
)
from core.training.history import RunHistory


def a_run() -> RunHistory:
    run = RunHistory(name="Run 1: baseline")
    run.add(TrainingStarted("LeNet-5", "digits", 100, 20, 10, 3, 4, {"dropout": True, "augment": {"kinds": []}}))
    run.add(ActivationsMeasured(0, 0, 0.0, (5.0, 50.0, 95.0), {"conv1": [-1.0, 0.0, 1.0]}))
    run.add(EpochEnded(1, 1.0, 0.9, 0.1, 0.5, None, None, 1e-3, 0.2))
    run.add(EpochEnded(2, 0.8, 0.7, 0.1, 0.6, 0.75, 0.7, 1e-3, 0.2))
    run.add(SettingChanged(2, 3, "l2", 0.0, 0.001))
    run.add(EarlyStopChecked(3, "val_loss", 0.8, False, 2, 0.75, 1, 1, True))
    run.add(TrainingFinished("early_stopped", "stopped", 3, 2, 0.75, "best"))
    return run


def test_round_trip(tmp_path):
    document = load_network(example_path("lenet5"))
    weights = Model(document, seed=1).state_dict()
    snapshot = RecoverySnapshot(network_to_dict(document), weights, [a_run()], "/somewhere/lenet5.json", 1234.5)
    path = tmp_path / "window.lwrecovery"
    write_snapshot(path, snapshot)
    back = read_snapshot(path)
    assert back.network == snapshot.network
    assert back.source_path == "/somewhere/lenet5.json" and back.saved_at == 1234.5
    assert back.weights.keys() == weights.keys()
    for key in weights:
        np.testing.assert_array_equal(back.weights[key], weights[key])
    run, original = back.runs[0], snapshot.runs[0]
    assert run.name == original.name and run.settings == original.settings
    assert run.epochs == [1, 2] and math.isnan(run.val_loss[0]) and run.val_loss[1] == 0.75
    assert run.markers == original.markers
    assert run.finished == original.finished
    assert run.activations == original.activations


def test_a_truncated_file_is_refused_with_its_name(tmp_path):
    path = tmp_path / "window.lwrecovery"
    write_snapshot(path, RecoverySnapshot(network_to_dict(load_network(example_path("mlp")))))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(RecoveryError, match=re.escape("window.lwrecovery")):
        read_snapshot(path)


def test_other_npz_files_are_refused(tmp_path):
    path = tmp_path / "weights.npz"
    np.savez(path, a=np.zeros(3))
    with pytest.raises(RecoveryError, match="not a recovery file"):
        read_snapshot(path)


def test_a_broken_network_inside_is_refused(tmp_path):
    data = network_to_dict(load_network(example_path("mlp")))
    data["layers"][1]["type"] = "NoSuchLayer"
    path = tmp_path / "broken.lwrecovery"
    write_snapshot(path, RecoverySnapshot(data))
    with pytest.raises(RecoveryError, match="NoSuchLayer"):
        read_snapshot(path)


def test_missing_file(tmp_path):
    with pytest.raises(RecoveryError, match="cannot be read"):
        read_snapshot(tmp_path / "none.lwrecovery")
