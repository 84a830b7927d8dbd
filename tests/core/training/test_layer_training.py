"""Frozen layers and learning-rate multipliers in the model and the NumPy engine."""

from __future__ import annotations

import numpy as np
import pytest

from core.data import load_builtin
from core.engine.model import Model
from core.engine.optimizers import OPTIMIZERS, make_optimizer
from core.graph.document import LayerTraining
from core.training.step_engine import NumpyEngine, StepRecipe
from core.training.trainer import Trainer, TrainingConfig
from tests.core.helpers import network
from tests.core.training.frozen_networks import frozen_cnn, set_training
from tests.core.training.test_trainer import run

FROZEN_LAYERS = ("conv1/", "bn1/")


@pytest.fixture(scope="module")
def digits():
    return load_builtin("digits", input_shape=(1, 8, 8), n_samples=300, seed=0).split(0.2, seed=0)


def frozen_batchnorm_net():
    """Conv2D → frozen BatchNorm → ReLU → Dense: the only BatchNorm is frozen, no dropout."""
    document, _ = network(
        (1, 8, 8),
        ("Conv2D", {"filters": 4, "kernel_size": 3}, "conv"),
        ("BatchNorm", None, "bn"),
        ("ReLU", None, "relu"),
        ("Flatten", None, "flatten"),
        ("Dense", {"units": 3}, "fc"),
    )
    set_training(document, "bn", LayerTraining(trainable=False))
    return document


def node_id(model, name):
    return next(node.id for node in model.order if node.name == name)


def test_the_model_gives_every_parameter_its_layers_update_scale():
    model = Model(frozen_cnn(), seed=0)
    assert model.frozen_node_ids == {node_id(model, "conv1"), node_id(model, "bn1")}
    assert model.update_scale.shape == model.params.shape and model.update_scale.dtype == np.float32
    expected = {"conv1": 0.0, "bn1": 0.0, "conv2": np.float32(0.1), "bn2": 1.0, "fc": 1.0}
    for entry in model.entries:
        assert (model.update_scale[entry.start : entry.stop] == expected[entry.layer]).all(), entry.key
    frozen = np.zeros(model.params.size, bool)
    for piece in model.frozen_slices:
        frozen[piece] = True
    assert (frozen == (model.update_scale == 0)).all()


def test_only_the_kernels_of_layers_that_train_are_penalised():
    model = Model(frozen_cnn(), seed=0)
    penalised = {e.key for e in model.entries if e.stop <= model.penalized_size}
    assert penalised == {"conv2/weight", "fc/weight"}
    assert model.regularized_size - model.penalized_size == 6 * 1 * 3 * 3  # conv1's kernel, frozen
    engine = NumpyEngine(model, "sgd", "cross_entropy")
    engine.begin(0, dropout=False)
    x = np.random.default_rng(0).normal(size=(4, 1, 8, 8)).astype(np.float32)
    result = engine.train_step(x, np.arange(4), l1=0.01, l2=0.0, learning_rate=0.0)
    kernels = [model.state_dict()[key] for key in ("conv2/weight", "fc/weight")]
    assert result.penalty == pytest.approx(0.01 * sum(float(np.abs(k).sum()) for k in kernels), rel=1e-6)


def test_freezing_leaves_every_layers_fresh_weights_as_they_were():
    plain = Model(frozen_cnn(), seed=3)
    document = frozen_cnn()
    for name in ("conv1", "bn1", "conv2"):
        set_training(document, name, LayerTraining())
    unfrozen = Model(document, seed=3).state_dict()
    for key, value in plain.state_dict().items():
        np.testing.assert_array_equal(value, unfrozen[key], err_msg=key)


SETTINGS = {
    "sgd": {"optimizer": "sgd", "learning_rate": 0.05, "l1": 1e-3, "l2": 1e-3},
    "momentum": {"optimizer": "momentum", "learning_rate": 0.02, "l2": 1e-3},
    "nesterov": {"optimizer": "momentum", "nesterov": True, "learning_rate": 0.02},
    "adam": {"optimizer": "adam", "l1": 1e-3},
    "adamw": {"optimizer": "adamw", "weight_decay": 0.1},
    "rmsprop": {"optimizer": "rmsprop", "clip_norm": 0.5},
}


@pytest.mark.parametrize("case", sorted(SETTINGS))
def test_frozen_weights_and_statistics_stay_bit_identical(case, digits):
    train, val = digits
    document = frozen_cnn()
    model = Model(document, seed=0)
    before = model.state_dict()
    config = TrainingConfig(epochs=1, batch_size=32, **SETTINGS[case])
    events = run(Trainer(document, train, val, config, model=model))
    assert events[-1].reason == "completed"
    after = model.state_dict()
    for key, value in before.items():
        if key.startswith(FROZEN_LAYERS):
            np.testing.assert_array_equal(after[key], value, err_msg=key)
        else:
            assert not np.array_equal(after[key], value), key  # the rest trains, BatchNorm statistics included


def test_a_frozen_batchnorm_runs_in_inference_mode_while_training():
    model = Model(frozen_batchnorm_net(), seed=0)
    bn = model.ops[node_id(model, "bn")]
    bn.buffers["running_mean"][...] = [0.1, -0.2, 0.3, 0.0]
    bn.buffers["running_var"][...] = [0.5, 2.0, 1.0, 1.5]
    statistics = {name: value.copy() for name, value in bn.buffers.items()}
    x = np.random.default_rng(1).normal(size=(5, 1, 8, 8)).astype(np.float32)
    inference = model.forward(x)
    np.testing.assert_array_equal(model.forward(x, training=True), inference)
    for name, value in statistics.items():
        np.testing.assert_array_equal(bn.buffers[name], value)
    # Its backward is the inference-mode network's.
    grad = np.random.default_rng(2).normal(size=(5, 3)).astype(np.float32)
    model.forward(x, training=True)
    training_input_grad = model.backward(grad)
    training_grads = model.grads.copy()
    fc = node_id(model, "fc")
    model.forward_to(x, [fc], keep_for_backward=True)
    inference_input_grad = model.backward_from(fc, grad)
    np.testing.assert_allclose(training_input_grad, inference_input_grad, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(training_grads, model.grads, rtol=1e-6, atol=1e-7)


def test_a_frozen_batchnorms_gradient_is_its_inference_gradient_numerically():
    document = frozen_batchnorm_net()
    model = Model(document, dtype=np.float64, seed=0)
    bn = model.ops[node_id(model, "bn")]
    bn.buffers["running_mean"][...] = [0.1, -0.2, 0.3, 0.0]
    bn.buffers["running_var"][...] = [0.5, 2.0, 1.0, 1.5]
    x = np.random.default_rng(1).normal(size=(3, 1, 8, 8))
    weights = np.random.default_rng(2).normal(size=(3, 3))
    model.forward(x, training=True)
    analytic = model.backward(weights, from_logits=False)
    numeric = np.zeros_like(x)
    step = 1e-6
    for index in [(0, 0, 1, 1), (1, 0, 4, 5), (2, 0, 7, 0)]:
        shifted = x.copy()
        shifted[index] += step
        up = float((model.forward(shifted, training=True) * weights).sum())
        shifted[index] -= 2 * step
        down = float((model.forward(shifted, training=True) * weights).sum())
        numeric[index] = (up - down) / (2 * step)
        assert analytic[index] == pytest.approx(numeric[index], rel=1e-5, abs=1e-8)


def test_half_the_multiplier_moves_the_weights_half_as_far_with_sgd():
    x = np.random.default_rng(0).normal(size=(8, 1, 8, 8)).astype(np.float32)
    y = np.arange(8) % 10
    moved = {}
    for scale in (1.0, 0.5):
        document = frozen_cnn()
        set_training(document, "conv2", LayerTraining(lr_multiplier=scale))
        model = Model(document, seed=0)
        before = model.state_dict()
        engine = NumpyEngine(model, "sgd", "cross_entropy")
        engine.begin(0, dropout=False)
        engine.train_step(x, y, 0.0, 0.0, learning_rate=0.1)
        moved[scale] = {key: value - before[key] for key, value in model.state_dict().items()}
    assert np.abs(moved[1.0]["conv2/weight"]).max() > 0
    # Up to the rounding of the weights themselves (float32, |w| < 1).
    np.testing.assert_allclose(moved[0.5]["conv2/weight"], 0.5 * moved[1.0]["conv2/weight"], rtol=1e-3, atol=1e-7)
    np.testing.assert_array_equal(moved[0.5]["fc/weight"], moved[1.0]["fc/weight"])


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_one_rate_per_parameter_steps_as_the_rate_does(name):
    """A per-parameter rate equal everywhere is the scalar rate; a rate of 0 on a zero gradient moves nothing."""
    rng = np.random.default_rng(0)
    start = rng.normal(size=50).astype(np.float32)
    grads = [rng.normal(size=50).astype(np.float32) for _ in range(3)]
    scalar, array = start.copy(), start.copy()
    one, other = make_optimizer(name, weight_decay=0.1), make_optimizer(name, weight_decay=0.1)
    rates = np.full(50, 0.01)
    rates[:10] = 0.0
    for grad in grads:
        frozen = grad.copy()
        frozen[:10] = 0
        one.step(scalar, frozen, 0.01)
        other.step(array, frozen, rates)
    np.testing.assert_array_equal(array[:10], start[:10])
    np.testing.assert_allclose(array[10:], scalar[10:], rtol=1e-6)


def test_a_network_whose_every_layer_is_frozen_trains_nothing(digits):
    train, val = digits
    document, _ = network((1, 8, 8), ("Flatten", None, "flatten"), ("Dense", {"units": 10}, "fc"))
    set_training(document, "fc", LayerTraining(trainable=False))
    model = Model(document, seed=0)
    before = model.state_dict()
    config = TrainingConfig(epochs=1, batch_size=64, optimizer="adamw", l2=0.01, clip_norm=1.0)
    events = run(Trainer(document, train, val, config, model=model))
    assert events[-1].reason == "completed"
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(value, before[key])
    assert all(e.penalty == 0 for e in events if type(e).__name__ == "BatchEnded")


def test_recipe_clipping_leaves_frozen_gradients_out_of_the_norm():
    x = np.random.default_rng(0).normal(size=(8, 1, 8, 8)).astype(np.float32)
    y = np.arange(8) % 10
    model = Model(frozen_cnn(), seed=0)
    engine = NumpyEngine(model, "sgd", "cross_entropy")
    engine.begin(0, dropout=False, recipe=StepRecipe(clip_norm=1e9))
    engine.train_step(x, y, 0.0, 0.0, learning_rate=0.0)
    for piece in model.frozen_slices:
        assert not model.grads[piece].any()
