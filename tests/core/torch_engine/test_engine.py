"""The PyTorch engine: the NumPy engine's runs, number for number, and every trainer feature on top."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from core.data import load_builtin
from core.engine.model import Model
from core.examples import example_path
from core.graph.document import NetworkDocument
from core.graph.fileformat import load_network
from core.session.engines import EngineChoice, make_engine
from core.torch_engine.engine import TorchEngine, TorchEngineError, torch_devices
from core.training.augment import AugmentSettings
from core.training.controls import Pause, Resume, SetDropout, SetL2, SetLearningRate, Stop
from core.training.events import (
    ActivationsMeasured,
    BatchEnded,
    EpochEnded,
    SettingChanged,
    TrainingFinished,
    TrainingPaused,
    TrainingStarted,
)
from core.training.schedules import ScheduleSettings
from core.training.step_engine import NumpyEngine
from core.training.trainer import Trainer, TrainingConfig
from tests.core.helpers import network, pool
from tests.core.training.frozen_networks import frozen_cnn
from tests.core.training.test_layer_training import FROZEN_LAYERS, SETTINGS
from tests.core.training.test_trainer import mlp, run

torch = pytest.importorskip("torch")

RTOL = 1e-4
"""float32 runs of a few dozen steps: the engines' sums differ in order, a few ulps per operation."""


def digits_cnn():
    return load_network(example_path("digits_cnn"))


def batchnorm_cnn():
    """Conv2D without bias before BatchNorm: a bias there has no gradient but float noise, which Adam
    would follow differently in each engine (a few 1e-4 of the validation loss after two epochs)."""
    doc, _ = network(
        (1, 8, 8),
        ("Conv2D", {"filters": 8, "kernel_size": 3, "padding": 1, "bias": False}, "conv"),
        ("BatchNorm", None, "bn"),
        ("ReLU", None, "relu"),
        pool(name="pool"),
        ("Flatten", None, "flatten"),
        ("Dense", {"units": 10}, "fc"),
        ("Softmax", None, "probabilities"),
    )
    return doc


def batchnorm_mlp():
    doc, _ = network(
        (2,),
        ("Dense", {"units": 16, "bias": False}, "fc1"),
        ("BatchNorm", None, "bn"),
        ("ReLU", None, "relu"),
        ("Dense", {"units": 2}, "fc2"),
    )
    return doc


@pytest.fixture(scope="module")
def digits():
    return load_builtin("digits", input_shape=(1, 8, 8), n_samples=300, seed=0).split(0.2, seed=0)


@pytest.fixture(scope="module")
def moons():
    return load_builtin("moons", n_samples=300, seed=0).split(0.2, seed=0)


def torch_trainer(document, train, val, config, seed=0):
    return Trainer(
        document, train, val, config, engine=make_engine(EngineChoice("torch"), Model(document, seed=seed), config)
    )


def numbers(events):
    batches = np.array([(e.loss, e.data_loss, e.penalty) for e in events if isinstance(e, BatchEnded)])
    epochs = [(e.val_loss, e.val_accuracy) for e in events if isinstance(e, EpochEnded)]
    return batches, epochs


def relative_difference(ours, theirs):
    return float(np.abs(ours - theirs).max() / max(np.abs(theirs).max(), 1e-6))


SGD = {"optimizer": "sgd", "learning_rate": 0.05}
CASES = {
    "digits_cnn_adam": (digits_cnn, {"optimizer": "adam"}),
    "digits_cnn_sgd_l1_l2": (digits_cnn, {**SGD, "l1": 1e-3, "l2": 1e-3}),
    "digits_cnn_momentum_mse": (digits_cnn, {"optimizer": "momentum", "learning_rate": 0.02, "loss": "mse"}),
    "digits_cnn_nesterov_augmented": (
        digits_cnn,
        {
            "optimizer": "momentum",
            "nesterov": True,
            "learning_rate": 0.02,
            "augment": AugmentSettings(kinds=frozenset({"noise", "shift"})),
        },
    ),
    "batchnorm_cnn_adam_l2": (batchnorm_cnn, {"optimizer": "adam", "l2": 1e-3}),
    "batchnorm_cnn_sgd_mse": (batchnorm_cnn, {**SGD, "loss": "mse"}),
    "batchnorm_cnn_momentum_l1_shift": (
        batchnorm_cnn,
        {
            "optimizer": "momentum",
            "learning_rate": 0.02,
            "l1": 1e-3,
            "augment": AugmentSettings(kinds=frozenset({"shift"})),
        },
    ),
    # training recipes: optimisers, clipping, the loss's smoothing and weights, schedules
    "digits_cnn_adamw": (digits_cnn, {"optimizer": "adamw", "weight_decay": 0.05}),
    "batchnorm_cnn_rmsprop": (batchnorm_cnn, {"optimizer": "rmsprop"}),
    "digits_cnn_sgd_clipped_l2": (digits_cnn, {**SGD, "clip_norm": 0.5, "l2": 1e-3}),
    "digits_cnn_label_smoothing": (digits_cnn, {"optimizer": "adam", "label_smoothing": 0.1}),
    "digits_cnn_balanced_class_weights": (digits_cnn, {"optimizer": "adam", "class_weights": "balanced"}),
    "batchnorm_cnn_class_weights_smoothed": (
        batchnorm_cnn,
        {**SGD, "class_weights": [1.0, 2.0, 0.5, 1.0, 1.5, 1.0, 3.0, 1.0, 1.0, 0.7], "label_smoothing": 0.2},
    ),
    "digits_cnn_momentum_cosine_warmup": (
        digits_cnn,
        {"optimizer": "momentum", "learning_rate": 0.02, "schedule": ScheduleSettings("cosine", warmup_epochs=1)},
    ),
    "digits_cnn_sgd_onecycle": (digits_cnn, {**SGD, "schedule": ScheduleSettings("onecycle")}),
    # a frozen Conv2D and BatchNorm, a Conv2D at a tenth of the rate
    "frozen_cnn_sgd_l1_l2_clipped": (frozen_cnn, {**SGD, "l1": 1e-3, "l2": 1e-3, "clip_norm": 0.5}),
    "frozen_cnn_adamw_cosine": (
        frozen_cnn,
        {"optimizer": "adamw", "weight_decay": 0.1, "schedule": ScheduleSettings("cosine", warmup_epochs=1)},
    ),
    "frozen_cnn_nesterov": (frozen_cnn, {"optimizer": "momentum", "nesterov": True, "learning_rate": 0.02}),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_same_run_same_numbers_as_the_numpy_engine(case, digits):
    build, settings = CASES[case]
    train, val = digits
    document = build()
    config = TrainingConfig(epochs=2, batch_size=32, dropout=False, **settings)
    ours, our_epochs = numbers(run(Trainer(document, train, val, config, model=Model(document, seed=0))))
    trainer = torch_trainer(document, train, val, config)
    theirs, their_epochs = numbers(run(trainer))
    assert trainer.engine.description == "PyTorch on cpu"
    assert ours.shape == theirs.shape == (2 * 8, 3)
    np.testing.assert_allclose(theirs, ours, rtol=RTOL, atol=1e-7)
    assert (ours[:, 2] > 0).all() == (theirs[:, 2] > 0).all() == bool(settings.get("l1") or settings.get("l2"))
    np.testing.assert_allclose([loss for loss, _ in their_epochs], [loss for loss, _ in our_epochs], rtol=RTOL)
    assert [accuracy for _, accuracy in their_epochs] == [accuracy for _, accuracy in our_epochs]


def test_batchnorm_mlp_with_momentum_runs_as_the_numpy_engine(moons):
    train, val = moons
    document = batchnorm_mlp()
    config = TrainingConfig(epochs=2, batch_size=40, optimizer="momentum", learning_rate=0.05, l2=1e-3)
    ours_model = Model(document, seed=0)
    ours, our_epochs = numbers(run(Trainer(document, train, val, config, model=ours_model)))
    trainer = torch_trainer(document, train, val, config)
    theirs, their_epochs = numbers(run(trainer))
    np.testing.assert_allclose(theirs, ours, rtol=RTOL, atol=1e-7)
    np.testing.assert_allclose(np.array(their_epochs), np.array(our_epochs), rtol=RTOL)
    # The running statistics came back into the network as the NumPy engine moved them.
    for key, value in ours_model.buffers.items():
        assert relative_difference(trainer.model.buffers[key], value) <= RTOL, key


def test_live_switches_take_effect_at_the_next_batch(digits):
    train, val = digits
    document = digits_cnn()
    trainer = torch_trainer(document, train, val, TrainingConfig(epochs=2, batch_size=60))
    engine = trainer.engine
    dropouts = [layer for layer in engine.module.modules() if isinstance(layer, torch.nn.Dropout)]
    assert dropouts and all(layer.p == pytest.approx(0.3) for layer in dropouts)
    rates = []

    def switch(t, event):
        if isinstance(event, BatchEnded):
            rates.append(engine._optimizer.param_groups[0]["lr"])
            if (event.epoch, event.batch) == (1, 2):
                t.control(SetL2(0.01))
                t.control(SetDropout(False))
                t.control(SetLearningRate(0.005))

    events = run(trainer, switch)
    assert events[-1].reason == "completed"
    changes = [(e.setting, e.old, e.new, e.epoch, e.batch) for e in events if isinstance(e, SettingChanged)]
    assert changes == [
        ("l2", 0.0, 0.01, 1, 3),
        ("dropout", True, False, 1, 3),
        ("learning_rate", 0.001, 0.005, 1, 3),
    ]
    penalties = [e.penalty for e in events if isinstance(e, BatchEnded)]
    assert penalties[:2] == [0.0, 0.0] and all(p > 0 for p in penalties[2:])
    assert all(layer.p == 0 for layer in dropouts)
    assert rates[:2] == [0.001, 0.001] and set(rates[2:]) == {0.005}
    assert [e.learning_rate for e in events if isinstance(e, EpochEnded)] == [0.005, 0.005]


def test_pause_resume_and_stop_from_another_thread(moons):
    train, val = moons
    trainer = torch_trainer(mlp(), train, val, TrainingConfig(epochs=500, batch_size=20))
    events: list = []
    worker = threading.Thread(target=lambda: events.extend(trainer.run()))
    trainer.control(Pause())
    worker.start()
    time.sleep(0.3)
    assert [type(e) for e in events] == [TrainingStarted, TrainingPaused]
    trainer.control(Resume())
    time.sleep(0.2)
    trainer.control(Stop())
    worker.join(timeout=10)
    assert not worker.is_alive()
    assert any(isinstance(e, BatchEnded) for e in events) and events[-1].reason == "stopped"


def test_early_stopping_restores_the_best_epochs_weights(moons, monkeypatch):
    train, val = moons
    trainer = torch_trainer(batchnorm_mlp(), train, val, TrainingConfig(epochs=20, batch_size=60, early_stopping=2))
    script = iter([1.0, 0.8, 0.85, 0.9, 0.5])
    monkeypatch.setattr(trainer, "evaluate", lambda data: (next(script), 0.5))
    saved = {}

    def remember(t, event):
        if isinstance(event, EpochEnded):
            saved[event.epoch] = t.engine.state_dict()

    events = run(trainer, remember)
    finished = events[-1]
    assert (finished.reason, finished.epochs_run, finished.best_epoch, finished.restored) == (
        "early_stopped",
        4,
        2,
        "best",
    )
    assert any(not np.array_equal(saved[2][key], saved[4][key]) for key in saved[2])
    engine_state, model_state = trainer.engine.state_dict(), trainer.model.state_dict()
    assert set(engine_state) == set(model_state) == set(saved[2])
    for key, value in saved[2].items():
        assert np.array_equal(engine_state[key], value), key
        assert np.array_equal(model_state[key], value), key


def test_divergence_restores_the_weights_from_before_the_last_step(moons):
    train, val = moons
    trainer = torch_trainer(
        mlp(), train, val, TrainingConfig(epochs=5, batch_size=20, optimizer="sgd", learning_rate=1e6)
    )
    states = []

    def remember(t, event):
        if isinstance(event, (TrainingStarted, BatchEnded)):
            states.append(t.engine.state_dict())

    events = run(trainer, remember)
    finished = events[-1]
    assert isinstance(finished, TrainingFinished)
    assert (finished.reason, finished.restored) == ("diverged", "last_good")
    assert len(states) >= 2
    before_last_step = states[-2]
    assert not np.array_equal(states[-1]["fc1/weight"], before_last_step["fc1/weight"])
    for key, value in trainer.engine.state_dict().items():
        assert np.all(np.isfinite(value)), key
        assert np.array_equal(value, before_last_step[key]), key
        assert np.array_equal(trainer.model.state_dict()[key], value), key


def test_probes_measure_what_the_numpy_engine_measures(digits):
    train, val = digits
    document = batchnorm_cnn()
    config = TrainingConfig(epochs=1, batch_size=len(train), optimizer="sgd", learning_rate=0.05, probe_samples=16)

    def probes(trainer):
        return [(e.epoch, e.batch, e.layers) for e in run(trainer) if isinstance(e, ActivationsMeasured)]

    ours = probes(Trainer(document, train, val, config, model=Model(document, seed=0)))
    theirs = probes(torch_trainer(document, train, val, config))
    assert (
        [(epoch, batch) for epoch, batch, _ in theirs]
        == [(epoch, batch) for epoch, batch, _ in ours]
        == [
            (0, 0),
            (1, 1),
        ]
    )
    assert theirs[0][2] == ours[0][2]  # zero steps: the very same weights
    assert theirs[1][2].keys() == ours[1][2].keys()
    for name, values in ours[1][2].items():  # one step apart by float32 rounding only
        np.testing.assert_allclose(theirs[1][2][name], values, rtol=RTOL, atol=1e-6, err_msg=name)


@pytest.mark.parametrize(
    "build, loss", [(digits_cnn, "cross_entropy"), (digits_cnn, "mse"), (batchnorm_cnn, "cross_entropy")]
)
def test_predictions_and_confidences_match_the_numpy_engine(build, loss, digits):
    train, val = digits
    document = build()
    config = TrainingConfig(epochs=1, batch_size=32, loss=loss, dropout=False)
    trainer = torch_trainer(document, train, val, config)
    run(trainer)
    model = Model(document, seed=5)
    model.load_state_dict(trainer.engine.state_dict())
    reference = NumpyEngine(model, config.optimizer, loss)
    classes, confidences = trainer.engine.predict_with_confidence(val.x)
    expected_classes, expected_confidences = reference.predict_with_confidence(val.x)
    assert np.array_equal(classes, expected_classes)
    np.testing.assert_allclose(confidences, expected_confidences, rtol=0, atol=1e-5)
    assert confidences.min() > 0 and confidences.max() <= 1


@pytest.mark.parametrize("build", [digits_cnn, batchnorm_cnn])
def test_trained_weights_come_back_into_a_fresh_network(build, digits):
    train, val = digits
    document = build()
    trainer = torch_trainer(document, train, val, TrainingConfig(epochs=1, batch_size=32))
    run(trainer)
    model = Model(document, seed=7)
    model.load_state_dict(trainer.engine.state_dict())
    module = trainer.engine.module.eval()
    with torch.no_grad():
        expected = module(torch.from_numpy(val.x)).numpy()
    assert relative_difference(model.forward(val.x), expected) <= 1e-5


def test_a_device_pytorch_lacks_is_refused_naming_the_available_ones(moons):
    assert torch_devices()[0].name == "cpu"
    with pytest.raises(TorchEngineError, match=r"device 'cuda:7' is not available to PyTorch here; available: cpu"):
        make_engine(EngineChoice("torch", "cuda:7"), Model(mlp()), TrainingConfig())
    assert isinstance(make_engine(EngineChoice("torch", "cpu"), Model(mlp()), TrainingConfig()), TorchEngine)


def test_a_network_without_weights_runs_its_epochs_as_the_numpy_engine_does(moons):
    train, val = moons
    document = NetworkDocument("no weights")
    x = document.add_node("Input", {"shape": [2]}, name="input")
    document.chain(x.id, [("Softmax", None, "probabilities")])
    config = TrainingConfig(epochs=2, batch_size=60)
    events = list(torch_trainer(document, train, val, config).run())
    reference = list(Trainer(document, train, val, config).run())
    assert events[-1].reason == reference[-1].reason == "completed"
    losses = [e.val_loss for e in events if isinstance(e, EpochEnded)]
    assert losses == pytest.approx([e.val_loss for e in reference if isinstance(e, EpochEnded)], rel=1e-5)


@pytest.mark.parametrize("case", sorted(SETTINGS))
def test_frozen_weights_and_statistics_stay_bit_identical(case, digits):
    train, val = digits
    document = frozen_cnn()
    before = Model(document, seed=0).state_dict()
    trainer = torch_trainer(document, train, val, TrainingConfig(epochs=1, batch_size=32, **SETTINGS[case]))
    assert run(trainer)[-1].reason == "completed"
    after = trainer.model.state_dict()
    for key, value in before.items():
        if key.startswith(FROZEN_LAYERS):
            np.testing.assert_array_equal(after[key], value, err_msg=key)
        else:
            assert not np.array_equal(after[key], value), key


def test_frozen_layers_are_out_of_the_optimiser_and_a_frozen_batchnorm_stays_in_inference_mode():
    engine = TorchEngine(Model(frozen_cnn(), seed=0), "sgd", "cross_entropy")
    module = engine.module
    frozen = {name for name, p in module.named_parameters() if not p.requires_grad}
    assert frozen == {"conv1.weight", "conv1.bias", "bn1.weight", "bn1.bias"}
    groups = {group["lr_multiplier"]: group["params"] for group in engine._optimizer.param_groups}
    assert sorted(groups) == [0.1, 1.0]
    assert [p.shape for p in groups[0.1]] == [module.conv2.weight.shape]
    assert not any(p is q for ps in groups.values() for p in ps for q in (module.conv1.weight, module.bn1.weight))
    module.train()
    assert not module.bn1.training and module.bn2.training and module.conv1.training
    engine.begin(0, dropout=False)
    x = np.random.default_rng(0).normal(size=(4, 1, 8, 8)).astype(np.float32)
    engine.train_step(x, np.arange(4), 0.0, 0.0, learning_rate=0.5)
    assert {g["lr"] for g in engine._optimizer.param_groups} == {0.5, 0.5 * 0.1}
