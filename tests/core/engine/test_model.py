"""The compiled model: structure checks, weights files, dropout switch, initialisation choice."""

from __future__ import annotations

import json

import numpy as np
import pytest

from core.engine.model import Model, WeightsError
from core.errors import LayerwiseError
from core.examples import example_path
from core.graph.document import NetworkDocument
from core.graph.fileformat import load_network


def lenet():
    return Model(load_network(example_path("lenet5")), seed=0)


def test_weights_round_trip_and_are_keyed_by_layer(tmp_path):
    model = lenet()
    path = tmp_path / "w.npz"
    model.save_weights(path)
    with np.load(path) as archive:
        index = json.loads(archive["index"].tobytes().decode("utf-8"))
        position = index["tensors"].index(["conv1", "weight"])
        assert archive[f"w{position}"].shape == (6, 1, 5, 5)
    other = Model(load_network(example_path("lenet5")), seed=1)
    assert not np.array_equal(other.params, model.params)
    other.load_weights(path)
    assert np.array_equal(other.params, model.params)


def test_weights_files_of_the_first_format_still_load(tmp_path):
    model = lenet()
    path = tmp_path / "old.npz"
    np.savez(path, **model.state_dict())  # one member per "layer/param" key, as before the index
    other = Model(load_network(example_path("lenet5")), seed=1)
    other.load_weights(path)
    assert np.array_equal(other.params, model.params)


def test_weights_that_do_not_fit_are_refused_and_change_nothing(tmp_path):
    model = lenet()
    before = model.params.copy()
    state = model.state_dict()
    state["conv1/weight"] = np.zeros((6, 1, 3, 3), np.float32)
    with pytest.raises(WeightsError, match="conv1/weight has shape 6×1×3×3, the network needs 6×1×5×5"):
        model.load_state_dict(state)
    del state["conv1/weight"]
    state["extra/weight"] = np.zeros(3, np.float32)
    with pytest.raises(WeightsError, match="missing conv1/weight; not in this network: extra/weight"):
        model.load_state_dict(state)
    state = model.state_dict()
    state["fc1/bias"][0] = np.nan
    with pytest.raises(WeightsError, match="fc1/bias must hold finite"):
        model.load_state_dict(state)
    assert np.array_equal(model.params, before)


def test_pickled_or_broken_weight_files_are_refused(tmp_path):
    pickled = tmp_path / "p.npz"
    np.savez(pickled, **{"conv1/weight": np.array([object()], dtype=object)})
    with pytest.raises(WeightsError, match="cannot be read as weights"):
        lenet().load_weights(pickled)
    broken = tmp_path / "b.npz"
    broken.write_bytes(b"not a zip")
    with pytest.raises(WeightsError, match="cannot be read as weights"):
        lenet().load_weights(broken)


def test_structure_is_checked():
    doc = NetworkDocument()
    a = doc.add_node("Input", {"shape": [4]}, name="a")
    b = doc.add_node("Input", {"shape": [4]}, name="b")
    doc.merge("Add", [a.id, b.id], name="sum")
    with pytest.raises(LayerwiseError, match="exactly one Input layer; this one has 2: 'a', 'b'"):
        Model(doc)
    doc = NetworkDocument()
    x = doc.add_node("Input", {"shape": [4]}, name="x")
    doc.chain(x.id, [("Dense", {"units": 2}, "left")])
    doc.chain(x.id, [("Dense", {"units": 2}, "right")])
    with pytest.raises(LayerwiseError, match=r"exactly one output .* this one has 2: 'left', 'right'"):
        Model(doc)
    broken = load_network(example_path("lenet5"))
    broken.disconnect(broken.input_edges(broken.node_by_name("fc1").id)[0])
    with pytest.raises(LayerwiseError, match="the network does not compute: layer 'fc1'"):
        Model(broken)


def test_dropout_switch_and_inference():
    model = Model(load_network(example_path("mlp")), seed=0)
    x = np.random.default_rng(0).random((16, 1, 28, 28), dtype=np.float32)
    inference = model.forward(x)
    assert np.array_equal(inference, model.forward(x))  # no dropout at inference
    assert not np.array_equal(model.forward(x, training=True), inference)
    model.dropout_enabled = False
    assert np.allclose(model.forward(x, training=True), inference)


def test_he_before_relu_and_glorot_before_softmax():
    model = Model(load_network(example_path("lenet5")), seed=0)
    conv1 = model.ops[model.document.node_by_name("conv1").id].params["weight"]
    fc3 = model.ops[model.document.node_by_name("fc3").id].params["weight"]
    assert conv1.std() == pytest.approx(np.sqrt(2 / 25), rel=0.3)
    assert np.abs(fc3).max() <= np.sqrt(6 / (84 + 10))


def test_predict_checks_the_input_shape():
    with pytest.raises(
        LayerwiseError, match="samples of shape 1×8×8 do not fit the network's input 'input' of shape 1×28×28"
    ):
        lenet().predict(np.zeros((2, 1, 8, 8), np.float32))
