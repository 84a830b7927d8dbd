"""Weights that belong to a network: kept by layer id, saved by name, reused where they fit."""

from __future__ import annotations

import numpy as np
import pytest

from core.engine.model import Model, WeightsError
from core.engine.network_weights import NetworkWeights, merge_fitting, weights_path_for
from core.examples import example_path
from core.graph.fileformat import load_network


@pytest.fixture
def lenet():
    return load_network(example_path("lenet5"))


def trained_state(document, seed=3):
    return Model(document, seed=seed).state_dict()


def test_round_trip_through_a_file(lenet, tmp_path):
    state = trained_state(lenet)
    weights = NetworkWeights.from_state_dict(lenet, state)
    path = weights_path_for(tmp_path / "net.json")
    assert path.name == "net.npz"
    weights.save(path, lenet)
    loaded = NetworkWeights.load(path, lenet).state_dict(lenet)
    assert loaded.keys() == state.keys()
    for key in state:
        np.testing.assert_array_equal(loaded[key], state[key])


def test_renaming_a_layer_keeps_its_weights(lenet):
    state = trained_state(lenet)
    weights = NetworkWeights.from_state_dict(lenet, state)
    conv1 = lenet.node_by_name("conv1")
    lenet.rename_node(conv1.id, "first_conv")
    renamed = weights.state_dict(lenet)
    assert "conv1/weight" not in renamed
    np.testing.assert_array_equal(renamed["first_conv/weight"], state["conv1/weight"])


def test_fit_reuses_what_still_fits_and_names_the_rest(lenet):
    state = trained_state(lenet)
    weights = NetworkWeights.from_state_dict(lenet, state)
    lenet.set_param(lenet.node_by_name("fc3").id, "units", 4)
    model = Model(lenet, seed=0)
    fitted, fresh = weights.fit(model, lenet)
    assert sorted(fresh) == ["fc3/bias", "fc3/weight"]
    np.testing.assert_array_equal(fitted["conv2/weight"], state["conv2/weight"])
    model.load_state_dict(fitted)  # a full, fitting state


def test_removed_layers_are_dropped(lenet):
    weights = NetworkWeights.from_state_dict(lenet, trained_state(lenet))
    lenet.remove_node(lenet.node_by_name("fc3").id)
    assert not any(key.startswith("fc3/") for key in weights.state_dict(lenet))


def test_unknown_layer_names_are_refused(lenet):
    with pytest.raises(WeightsError, match="'nope/weight' names no layer"):
        NetworkWeights.from_state_dict(lenet, {"nope/weight": np.zeros(3)})


def test_weights_of_another_network_are_refused_on_load(lenet, tmp_path):
    other = load_network(example_path("mlp"))
    path = tmp_path / "other.npz"
    NetworkWeights.from_state_dict(other, trained_state(other)).save(path, other)
    with pytest.raises(WeightsError, match="does not fit"):
        NetworkWeights.load(path, lenet)


def test_merge_fitting_ignores_misshapen_and_integer_tensors():
    initial = {"a": np.zeros(3), "b": np.zeros((2, 2)), "c": np.zeros(1)}
    stored = {"a": np.ones(3), "b": np.ones(4), "c": np.ones(1, dtype=np.int64)}
    state, fresh = merge_fitting(initial, stored)
    np.testing.assert_array_equal(state["a"], 1)
    assert fresh == ["b", "c"]
