"""The trainer: reproducible runs, live settings, early stopping, faults, controls."""

from __future__ import annotations

import pickle
import threading
import time

import numpy as np
import pytest

from core.data import load_builtin
from core.engine.model import Model
from core.graph.document import NetworkDocument
from core.training.augment import AugmentSettings
from core.training.controls import Pause, Resume, SetAugmentation, SetDropout, SetL2, SetLearningRate, Stop
from core.training.events import (
    BatchEnded,
    EarlyStopChecked,
    EpochEnded,
    SettingChanged,
    TrainingFinished,
    TrainingPaused,
)
from core.training.trainer import Trainer, TrainingConfig, TrainingError


def mlp(inputs=2, hidden=16, classes=2, dropout=0.0):
    doc = NetworkDocument("toy mlp")
    x = doc.add_node("Input", {"shape": [inputs]}, name="input")
    layers = [("Dense", {"units": hidden}, "fc1"), ("ReLU", None, "relu")]
    if dropout:
        layers.append(("Dropout", {"rate": dropout}, "drop"))
    layers += [("Dense", {"units": classes}, "fc2"), ("Softmax", None, "probabilities")]
    doc.chain(x.id, layers)
    return doc


@pytest.fixture(scope="module")
def moons():
    return load_builtin("moons", n_samples=400, seed=0).split(0.25, seed=0)


def run(trainer, on_event=None):
    events = []
    for event in trainer.run():
        events.append(event)
        if on_event:
            on_event(trainer, event)
    return events


def test_training_learns_moons(moons):
    train, val = moons
    trainer = Trainer(mlp(), train, val, TrainingConfig(epochs=40, batch_size=32, learning_rate=0.01))
    events = run(trainer)
    finished = events[-1]
    assert isinstance(finished, TrainingFinished) and finished.reason == "completed"
    epochs = [e for e in events if isinstance(e, EpochEnded)]
    assert len(epochs) == 40 and epochs[-1].val_accuracy >= 0.95
    assert epochs[-1].train_loss < epochs[0].train_loss


def test_same_seed_same_run_bit_for_bit(moons):
    train, val = moons
    config = TrainingConfig(epochs=3, batch_size=16, augment=AugmentSettings(kinds=frozenset({"noise", "resample"})))

    def one_run(seed):
        trainer = Trainer(mlp(dropout=0.3), train, val, TrainingConfig(**{**config.__dict__, "seed": seed}))
        losses = [e.loss for e in run(trainer) if isinstance(e, BatchEnded)]
        return losses, trainer.model.params.copy()

    first, second, other = one_run(7), one_run(7), one_run(8)
    assert first[0] == second[0] and np.array_equal(first[1], second[1])
    assert not np.array_equal(first[1], other[1])


def test_live_settings_take_effect_at_the_next_batch_and_are_reported(moons):
    train, val = moons
    trainer = Trainer(mlp(dropout=0.5), train, val, TrainingConfig(epochs=2, batch_size=50))

    def switch(t, event):
        if isinstance(event, BatchEnded) and (event.epoch, event.batch) == (1, 2):
            t.control(SetL2(0.01))
            t.control(SetDropout(False))
            t.control(SetLearningRate(0.005))
            t.control(SetAugmentation(frozenset({"noise"})))

    events = run(trainer, switch)
    changes = [e for e in events if isinstance(e, SettingChanged)]
    assert [(c.setting, c.old, c.new, c.epoch, c.batch) for c in changes] == [
        ("l2", 0.0, 0.01, 1, 3),
        ("dropout", True, False, 1, 3),
        ("learning_rate", 0.001, 0.005, 1, 3),
        ("augment", [], ["noise"], 1, 3),
    ]
    batches = [e for e in events if isinstance(e, BatchEnded)]
    assert batches[1].penalty == 0 and batches[2].penalty > 0
    assert batches[2].loss == pytest.approx(batches[2].data_loss + batches[2].penalty)
    assert trainer.model.dropout_enabled is False
    assert [e for e in events if isinstance(e, EpochEnded)][-1].learning_rate == 0.005


def test_early_stopping_follows_the_notes_and_restores_the_best_weights(moons, monkeypatch):
    train, val = moons
    trainer = Trainer(mlp(), train, val, TrainingConfig(epochs=20, early_stopping=3, monitor="val_loss"))
    script = iter([1.0, 0.8, 0.85, 0.9, 0.79, 0.8, 0.81, 0.82, 0.5])
    monkeypatch.setattr(trainer, "evaluate", lambda data: (next(script), 0.5))
    saved = {}

    def remember(t, event):
        if isinstance(event, EpochEnded):
            saved[event.epoch] = t.model.params.copy()

    events = run(trainer, remember)
    checks = [e for e in events if isinstance(e, EarlyStopChecked)]
    assert [c.improved for c in checks] == [True, True, False, False, True, False, False, False]
    assert [c.epochs_without_improvement for c in checks][-1] == 3 and checks[-1].stop
    finished = events[-1]
    assert finished.reason == "early_stopped" and finished.epochs_run == 8
    assert (finished.best_epoch, finished.best_value, finished.restored) == (5, 0.79, "best")
    assert "best: epoch 5" in finished.message
    assert np.array_equal(trainer.model.params, saved[5])


def test_divergence_stops_with_the_last_good_weights(moons):
    train, val = moons
    trainer = Trainer(mlp(), train, val, TrainingConfig(epochs=5, optimizer="sgd", learning_rate=1e30))
    events = run(trainer)
    finished = events[-1]
    assert finished.reason == "diverged" and finished.restored == "last_good"
    assert "the loss became" in finished.message and "learning rate below" in finished.message
    assert np.all(np.isfinite(trainer.model.params))


def test_data_that_does_not_fit_is_refused_before_training(moons):
    train, val = moons
    shapes = load_builtin("shapes", input_shape=(1, 16, 16), n_samples=40, seed=0)
    with pytest.raises(TrainingError, match=r"samples of shape 1×16×16, but the network's input 'input' expects 2"):
        Trainer(mlp(), shapes, None, TrainingConfig())
    with pytest.raises(
        TrainingError, match=r"outputs 3 class scores .* has 2 classes; set the last Dense layer's units to 2"
    ):
        Trainer(mlp(classes=3), train, val, TrainingConfig())
    with pytest.raises(TrainingError, match="learning_rate must be > 0"):
        Trainer(mlp(), train, val, TrainingConfig(learning_rate=0))
    with pytest.raises(TrainingError, match="early stopping needs validation data"):
        Trainer(mlp(), train, None, TrainingConfig(early_stopping=3))


def test_stop_between_batches(moons):
    train, val = moons

    def stop_early(t, event):
        if isinstance(event, BatchEnded) and event.batch == 2:
            t.control(Stop())

    events = run(Trainer(mlp(), train, val, TrainingConfig(epochs=5, batch_size=20)), stop_early)
    assert events[-1].reason == "stopped"
    assert sum(isinstance(e, BatchEnded) for e in events) == 2


def test_pause_and_resume_from_another_thread(moons):
    train, val = moons
    trainer = Trainer(mlp(), train, val, TrainingConfig(epochs=200, batch_size=20))
    events: list = []
    worker = threading.Thread(target=lambda: events.extend(trainer.run()))
    trainer.control(Pause())
    worker.start()
    time.sleep(0.3)
    assert [type(e).__name__ for e in events] == ["TrainingStarted", "TrainingPaused"]
    trainer.control(Resume())
    time.sleep(0.2)
    trainer.control(Stop())
    worker.join(timeout=10)
    assert not worker.is_alive()
    assert any(isinstance(e, BatchEnded) for e in events) and events[-1].reason == "stopped"
    assert isinstance(events[1], TrainingPaused)


def test_an_exception_inside_training_becomes_a_message(moons, monkeypatch):
    train, val = moons
    trainer = Trainer(mlp(), train, val, TrainingConfig(epochs=1))

    def broken(*args, **kwargs):
        raise RuntimeError("kaput")

    monkeypatch.setattr(trainer.model, "backward", broken)
    finished = run(trainer)[-1]
    assert finished.reason == "failed" and finished.message == "training failed: RuntimeError: kaput"


def test_events_are_picklable_and_json_ready(moons):
    import json

    train, val = moons
    events = run(Trainer(mlp(), train, val, TrainingConfig(epochs=1, early_stopping=2)))
    assert pickle.loads(pickle.dumps(events)) == events
    for event in events:
        assert json.loads(json.dumps(event.to_json()))["event"] == type(event).__name__


def test_a_given_model_keeps_its_weights(moons):
    train, val = moons
    model = Model(mlp(), seed=3)
    model.params[...] = 0.01
    trainer = Trainer(mlp(), train, val, TrainingConfig(epochs=1), model=model)
    assert trainer.model is model and np.all(model.params == np.float32(0.01))


def test_sampling_from_class_gaussians_can_be_switched_on_mid_run(moons):
    train, val = moons
    trainer = Trainer(mlp(), train, val, TrainingConfig(epochs=2, batch_size=50))
    assert not trainer.augmenter.fitted

    def switch(t, event):
        if isinstance(event, BatchEnded) and (event.epoch, event.batch) == (1, 1):
            t.control(SetAugmentation(frozenset({"sample"})))

    events = run(trainer, switch)
    assert events[-1].reason == "completed" and trainer.augmenter.fitted
    assert any(isinstance(e, SettingChanged) and e.new == ["sample"] for e in events)
