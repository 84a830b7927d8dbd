"""Training recipes in the trainer: settings checked by name, carried in run logs and run names, and in effect."""

from __future__ import annotations

import json

import numpy as np
import pytest

from core.data import load_builtin
from core.engine.model import Model
from core.training.events import BatchEnded, TrainingStarted
from core.training.history import describe_difference, format_setting
from core.training.schedules import ScheduleSettings
from core.training.trainer import Trainer, TrainingConfig, TrainingError
from tests.core.training.test_trainer import mlp, run


@pytest.fixture(scope="module")
def moons():
    return load_builtin("moons", n_samples=200, seed=0).split(0.2, seed=0)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"weight_decay": -0.1}, "weight_decay must be ≥ 0, got -0.1"),
        ({"clip_norm": 0.0}, r"clip_norm must be > 0 \(or None for no clipping\), got 0.0"),
        ({"label_smoothing": 1.0}, r"label_smoothing must be in \[0, 1\), got 1.0"),
        ({"class_weights": "uniform"}, "class_weights must be 'balanced', None or a list of weights > 0.*'uniform'"),
        ({"class_weights": [1.0, -2.0]}, r"class_weights must be .*got \[1.0, -2.0\]"),
        ({"loss": "mse", "label_smoothing": 0.1}, "label_smoothing 0.1 needs loss cross_entropy, got loss 'mse'"),
        (
            {"loss": "mse", "class_weights": "balanced"},
            "class_weights 'balanced' needs loss cross_entropy, got loss 'mse'",
        ),
        ({"optimizer": "lamb"}, "optimizer must be one of sgd, momentum, adam, adamw, rmsprop, got 'lamb'"),
    ],
)
def test_a_setting_out_of_range_is_named_with_its_value(settings, message):
    with pytest.raises(TrainingError, match=message):
        TrainingConfig(**settings).validate()


def test_class_weights_must_hold_one_weight_per_class(moons):
    train, val = moons
    config = TrainingConfig(class_weights=[1.0, 2.0, 3.0])
    with pytest.raises(TrainingError, match=r"one weight per class \(2\), got 3: \[1.0, 2.0, 3.0\]"):
        Trainer(mlp(), train, val, config)


def test_the_recipe_is_in_the_run_logs_settings(moons):
    train, val = moons
    config = TrainingConfig(
        epochs=1,
        optimizer="adamw",
        weight_decay=0.05,
        clip_norm=1.0,
        label_smoothing=0.1,
        class_weights="balanced",
        schedule=ScheduleSettings("multistep", milestones=(1, 3), gamma=0.5),
    )
    started = next(e for e in Trainer(mlp(), train, val, config).run() if isinstance(e, TrainingStarted))
    settings = json.loads(json.dumps(started.settings))
    assert settings["schedule"] == {"kind": "multistep", "milestones": [1, 3], "gamma": 0.5}
    assert (settings["weight_decay"], settings["clip_norm"], settings["label_smoothing"]) == (0.05, 1.0, 0.1)
    assert settings["class_weights"] == "balanced" and settings["optimizer"] == "adamw"


@pytest.mark.parametrize(
    ("name", "value", "text"),
    [
        ("schedule", {"kind": "none"}, "constant lr"),
        ("schedule", {"kind": "cosine", "warmup_epochs": 2, "min_lr": 0.0}, "cosine schedule (warm-up 2, min lr 0)"),
        ("schedule", {"kind": "multistep", "milestones": [3, 6], "gamma": 0.1}, "multistep schedule (milestones 3, 6, gamma 0.1)"),
        ("schedule", {"kind": "onecycle"}, "onecycle schedule"),
        ("weight_decay", 0.05, "weight decay = 0.05"),
        ("clip_norm", 1.0, "clip norm 1"),
        ("clip_norm", None, "no clipping"),
        ("label_smoothing", 0.1, "label smoothing 0.1"),
        ("label_smoothing", 0.0, "no label smoothing"),
        ("class_weights", "balanced", "class weights: balanced"),
        ("class_weights", [1.0, 2.5], "class weights: 1, 2.5"),
        ("class_weights", None, "no class weights"),
    ],
)  # fmt: skip
def test_run_names_describe_the_recipe(name, value, text):
    assert format_setting(name, value) == text


def test_a_run_name_says_which_recipe_changed():
    before = TrainingConfig().to_json()
    after = TrainingConfig(schedule=ScheduleSettings("step", step_size=5, gamma=0.5), clip_norm=2.0).to_json()
    assert describe_difference(after, before) == "step schedule (every 5, gamma 0.5), clip norm 2"


def batch_losses(moons, **settings):
    train, val = moons
    document = mlp()
    config = TrainingConfig(**{"epochs": 2, "batch_size": 40, "optimizer": "sgd", "learning_rate": 0.5, **settings})
    events = run(Trainer(document, train, val, config, model=Model(document, seed=0)))
    return np.array([e.data_loss for e in events if isinstance(e, BatchEnded)])


@pytest.mark.parametrize(
    "settings",
    [
        {"clip_norm": 0.05},
        {"label_smoothing": 0.2},
        {"class_weights": [1.0, 3.0]},
        {"optimizer": "adamw", "weight_decay": 0.5, "learning_rate": 0.01},
        {"optimizer": "rmsprop", "learning_rate": 0.01},
        {"schedule": ScheduleSettings("exponential", gamma=0.1)},
    ],
)
def test_each_recipe_changes_the_run(moons, settings):
    baseline = {"optimizer": "adam", "learning_rate": 0.01} if settings.get("optimizer") else {}
    ours, theirs = batch_losses(moons, **settings), batch_losses(moons, **baseline)
    assert ours[0] == pytest.approx(theirs[0]) or "label_smoothing" in settings or "class_weights" in settings
    assert not np.allclose(ours, theirs)
