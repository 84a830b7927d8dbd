"""Weights come back from PyTorch: the generated module's ``state_dict`` becomes the network's state again."""

from __future__ import annotations

import numpy as np
import pytest

from core.engine.model import Model
from core.examples import example_names, example_path
from core.graph.fileformat import load_network
from core.layers.dense import Dense
from core.layers.torch_writer import TorchExportError, TorchModule
from core.torch_export.project import torch_state
from core.torch_export.weights_back import TorchStateMap, layerwise_state
from tests.core.engine.test_gradients import CASES
from tests.core.onnx_io.helpers import randomize, relative_difference
from tests.core.torch_export.helpers import torch_twin

BIG = {"vgg16", "alexnet"}
"""Examples whose float64 training step in PyTorch takes long: their weights are perturbed by noise only."""

THROUGH_TORCH = [name for name in example_names() if name != "vgg16"]
"""VGG-16 has AlexNet's layer types at three times the size (40 s here); its exact round trip is checked."""


def assert_same_state(ours: dict[str, np.ndarray], theirs: dict[str, np.ndarray]) -> None:
    assert list(ours) == list(theirs)
    for key, value in theirs.items():
        assert ours[key].dtype == value.dtype, key
        assert ours[key].shape == value.shape, key
        assert np.array_equal(ours[key], value), key


def random_model(document, dtype=np.float32, seed: int = 0) -> Model:
    """Distinct random weights and buffers: a value put in another's place cannot go unnoticed."""
    model = Model(document, dtype=dtype, seed=1)
    randomize(model, seed)
    return model


@pytest.mark.parametrize("case", sorted(CASES))
def test_each_layer_case_comes_back_exactly(case):
    model = random_model(CASES[case])
    assert_same_state(layerwise_state(model, torch_state(model)), model.state_dict())


@pytest.mark.parametrize("name", example_names())
def test_every_example_comes_back_exactly(name):
    model = random_model(load_network(example_path(name)))
    assert_same_state(layerwise_state(model, torch_state(model)), model.state_dict())


def test_the_map_is_built_once_and_serves_every_state():
    model = random_model(load_network(example_path("mobilenet_cifar")), dtype=np.float64)
    mapping = TorchStateMap(model)
    exported = torch_state(model)
    assert list(mapping.shapes) == list(exported)
    assert mapping.ignored == {key for key in exported if key.endswith(".num_batches_tracked")}
    for seed in (3, 4):
        randomize(model, seed)
        assert_same_state(mapping.to_layerwise(torch_state(model)), model.state_dict())


def test_a_scalar_and_any_float_dtype_are_taken():
    """``num_batches_tracked`` as PyTorch keeps it (shape ``()``), weights in float32 for a float64 network."""
    model = random_model(CASES["batchnorm_map"], dtype=np.float64)
    state = {key: value.astype(np.float32) for key, value in torch_state(model).items()}
    state["under_test.num_batches_tracked"] = np.array(7, dtype=np.int64)
    back = layerwise_state(model, state)
    assert all(value.dtype == np.float64 for value in back.values())
    for key, value in model.state_dict().items():
        assert np.array_equal(back[key], value.astype(np.float32).astype(np.float64)), key


# -- refusals ------------------------------------------------------------------


@pytest.fixture
def dense():
    return random_model(CASES["dense"])


def test_a_missing_key_is_named(dense):
    state = torch_state(dense)
    del state["under_test.bias"]
    with pytest.raises(TorchExportError, match=r"under_test\.bias: missing .*\(3,\)"):
        layerwise_state(dense, state)


def test_an_extra_key_is_named(dense):
    state = torch_state(dense) | {"under_test.scale": np.ones((2, 3))}
    with pytest.raises(TorchExportError, match=r"under_test\.scale: not in the module .*\(2, 3\)"):
        layerwise_state(dense, state)


def test_a_wrong_shape_is_named_with_both_shapes(dense):
    state = torch_state(dense)
    state["under_test.weight"] = state["under_test.weight"].T
    with pytest.raises(TorchExportError, match=r"under_test\.weight: .*\(5, 3\).*\(3, 5\)"):
        layerwise_state(dense, state)


def patch_dense(monkeypatch, state) -> None:
    """Dense writes ``state(op)`` as its PyTorch state."""
    original = Dense.export_torch

    def export_torch(self, torch_export, input_shapes, op):
        return TorchModule(original(self, torch_export, input_shapes, op).constructor, state(op))

    monkeypatch.setattr(Dense, "export_torch", export_torch)


@pytest.mark.parametrize(
    ("state", "reason"),
    [
        (lambda op: {"weight": -op.params["weight"], "bias": op.params["bias"]}, "computed"),
        (lambda op: {"weight": 2 * op.params["weight"], "bias": op.params["bias"]}, "computed"),
        (lambda op: {"weight": op.params["weight"] + op.params["bias"][:, None]}, "computed"),
        (lambda op: {"weight": op.params["weight"].astype(np.float32), "bias": op.params["bias"]}, "casts"),
        (lambda op: {"weight": op.params["weight"]}, "do not appear"),
        (
            lambda op: {"weight": op.params["weight"], "bias": op.params["bias"], "copy": op.params["bias"]},
            "more than once",
        ),
    ],
    ids=["negated", "scaled", "summed", "cast", "left_out", "twice"],
)
def test_a_layer_that_does_not_only_move_its_weights_is_named(monkeypatch, dense, state, reason):
    patch_dense(monkeypatch, state)
    with pytest.raises(TorchExportError, match=rf"layer 'under_test': .*{reason}"):
        TorchStateMap(dense)


def test_any_rearrangement_is_read_back(monkeypatch, dense):
    patch_dense(monkeypatch, lambda op: {"bias": op.params["bias"][::-1], "weight": op.params["weight"].T})
    state = torch_state(dense)
    assert np.array_equal(state["under_test.weight"], dense.state_dict()["under_test/weight"].T)
    assert_same_state(layerwise_state(dense, state), dense.state_dict())


# -- through PyTorch -----------------------------------------------------------


def trained_in_torch(model: Model, tmp_path, steps: int):
    """The generated module after ``steps`` SGD steps in training mode and noise on every value, in eval mode,
    and its ``state_dict`` as NumPy arrays."""
    torch = pytest.importorskip("torch")
    module = torch_twin(model, tmp_path).train()
    rng = np.random.default_rng(3)
    x = torch.from_numpy(rng.standard_normal((4, *model.input_shape)))
    target = torch.from_numpy(rng.standard_normal((4, *model.output_shape)))
    parameters = list(module.parameters())
    if parameters and steps:
        optimizer = torch.optim.SGD(parameters, lr=0.05)
        for _ in range(steps):  # moves the weights and BatchNorm's running statistics
            optimizer.zero_grad()
            (module(x) * target).sum().backward()
            optimizer.step()
    generator = torch.Generator().manual_seed(4)
    with torch.no_grad():
        for value in module.state_dict().values():
            if value.is_floating_point():  # a positive factor keeps running variances positive
                value.mul_(1 + 0.1 * torch.rand(value.shape, generator=generator, dtype=value.dtype))
    state = {key: value.detach().numpy().copy() for key, value in module.state_dict().items()}
    return module.eval(), state


def check_through_torch(document, tmp_path, steps: int = 2) -> None:
    torch = pytest.importorskip("torch")
    model = random_model(document, dtype=np.float64)
    module, state = trained_in_torch(model, tmp_path, steps)
    back = Model(document, dtype=np.float64, seed=9)  # other weights: all must come from ``state``
    back.load_state_dict(layerwise_state(back, state))
    before, after = model.state_dict(), back.state_dict()
    assert all(not np.array_equal(after[key], value) for key, value in before.items())  # PyTorch moved every one
    x = np.random.default_rng(5).standard_normal((2, *model.input_shape))
    with torch.no_grad():
        theirs = module(torch.from_numpy(x)).numpy()
    ours = back.forward(x)
    assert ours.shape == theirs.shape
    assert relative_difference(ours, theirs) <= 1e-5


@pytest.mark.parametrize("case", sorted(CASES))
def test_each_layer_case_trained_in_torch_runs_alike(case, tmp_path):
    check_through_torch(CASES[case], tmp_path)


@pytest.mark.parametrize("name", THROUGH_TORCH)
def test_every_example_trained_in_torch_runs_alike(name, tmp_path):
    check_through_torch(load_network(example_path(name)), tmp_path, steps=0 if name in BIG else 2)
