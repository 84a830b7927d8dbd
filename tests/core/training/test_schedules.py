"""Learning-rate schedules: every step's rate as torch.optim.lr_scheduler gives it, and in the trainer."""

from __future__ import annotations

import math

import numpy as np
import pytest

from core.data import load_builtin
from core.engine.model import Model
from core.training.controls import SetLearningRate
from core.training.events import BatchEnded, EpochEnded
from core.training.schedules import Plateau, Schedule, ScheduleSettings, preview, preview_points
from core.training.trainer import Trainer, TrainingConfig, TrainingError
from tests.core.training.test_trainer import mlp

EPOCHS, BATCHES, BASE = 12, 5, 0.1

SETTINGS = {
    "none": ScheduleSettings(),
    "step": ScheduleSettings("step", step_size=3, gamma=0.5),
    "multistep": ScheduleSettings("multistep", milestones=(2, 5, 9), gamma=0.3),
    "exponential": ScheduleSettings("exponential", gamma=0.8),
    "cosine": ScheduleSettings("cosine", warmup_epochs=3, min_lr=0.001),
    "cosine_no_warmup": ScheduleSettings("cosine", min_lr=0.0),
    "onecycle": ScheduleSettings("onecycle"),
}


def rates(settings: ScheduleSettings) -> np.ndarray:
    return preview(TrainingConfig(epochs=EPOCHS, learning_rate=BASE, schedule=settings), BATCHES)


def torch_rates(name: str) -> np.ndarray:
    """The rate of every batch as PyTorch's scheduler sets it (stepped per epoch, OneCycleLR per batch)."""
    torch = pytest.importorskip("torch")
    scheduler_module = torch.optim.lr_scheduler
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=BASE)
    s = SETTINGS[name]
    per_batch = False
    if name == "none":
        scheduler = scheduler_module.LambdaLR(optimizer, lambda _epoch: 1.0)
    elif name == "step":
        scheduler = scheduler_module.StepLR(optimizer, step_size=s.step_size, gamma=s.gamma)
    elif name == "multistep":
        scheduler = scheduler_module.MultiStepLR(optimizer, milestones=list(s.milestones), gamma=s.gamma)
    elif name == "exponential":
        scheduler = scheduler_module.ExponentialLR(optimizer, gamma=s.gamma)
    elif name.startswith("cosine"):
        cosine = scheduler_module.CosineAnnealingLR(optimizer, T_max=EPOCHS - s.warmup_epochs, eta_min=s.min_lr)
        if s.warmup_epochs:
            warmup = scheduler_module.LinearLR(
                optimizer, start_factor=1 / (s.warmup_epochs + 1), total_iters=s.warmup_epochs
            )
            scheduler = scheduler_module.SequentialLR(optimizer, [warmup, cosine], milestones=[s.warmup_epochs])
        else:
            scheduler = cosine
    else:
        scheduler = scheduler_module.OneCycleLR(
            optimizer, max_lr=BASE, total_steps=EPOCHS * BATCHES, cycle_momentum=False
        )
        per_batch = True
    out = []
    for _epoch in range(EPOCHS):
        for _batch in range(BATCHES):
            out.append(optimizer.param_groups[0]["lr"])
            if per_batch:
                optimizer.step()
                scheduler.step()
        if not per_batch:
            optimizer.step()
            scheduler.step()
    return np.array(out)


@pytest.mark.parametrize("name", sorted(SETTINGS))
def test_every_step_is_torchs_rate(name):
    np.testing.assert_allclose(rates(SETTINGS[name]), torch_rates(name), rtol=1e-12, atol=1e-15)


EXPECTED_PER_EPOCH = {
    # first batch of each of the 12 epochs, written out from the formulas in docs/training.md
    "step": [0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.025, 0.025, 0.025, 0.0125, 0.0125, 0.0125],
    "multistep": [0.1, 0.1, 0.03, 0.03, 0.03, 0.009, 0.009, 0.009, 0.009, 0.0027, 0.0027, 0.0027],
    "exponential": [0.1 * 0.8**e for e in range(12)],
    "cosine": [0.025, 0.05, 0.075] + [0.001 + 0.099 * (1 + math.cos(math.pi * e / 9)) / 2 for e in range(9)],
}


@pytest.mark.parametrize("name", sorted(EXPECTED_PER_EPOCH))
def test_per_epoch_schedules_follow_the_written_table(name):
    per_batch = rates(SETTINGS[name]).reshape(EPOCHS, BATCHES)
    assert (per_batch == per_batch[:, :1]).all()  # constant within an epoch
    np.testing.assert_allclose(per_batch[:, 0], EXPECTED_PER_EPOCH[name], rtol=1e-12)


def test_onecycle_rises_to_the_base_then_falls_to_its_floor():
    values = rates(SETTINGS["onecycle"])
    assert values[0] == pytest.approx(BASE / 25)
    peak = int(0.3 * EPOCHS * BATCHES) - 1  # step 17 of 60
    assert values.argmax() == peak and values[peak] == pytest.approx(BASE)
    assert values[-1] == pytest.approx(BASE / 25 / 1e4)


VAL_LOSSES = [1.0, 0.9, 0.9, 0.91, 0.8999, 0.9, 0.95, 0.7, 0.7, 0.7, 0.7, float("nan"), 0.7, 0.7]


def test_plateau_reduces_as_reduce_lr_on_plateau():
    plateau = Plateau(factor=0.5, patience=2)
    ours = []
    for value in VAL_LOSSES:
        plateau.update(value, BASE)
        ours.append(BASE * plateau.scale)
    try:
        import torch
    except ImportError:
        # 0.7 (index 7) is the last new best; the 3rd bad epoch after it reduces, and the 3rd after that
        assert ours == pytest.approx([0.1] * 10 + [0.05] * 3 + [0.025])
        return
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=BASE)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, factor=0.5, patience=2)
    theirs = []
    for value in VAL_LOSSES:
        optimizer.step()
        scheduler.step(value)
        theirs.append(optimizer.param_groups[0]["lr"])
    np.testing.assert_allclose(ours, theirs, rtol=1e-12)
    assert ours == pytest.approx([0.1] * 10 + [0.05] * 3 + [0.025])


def test_plateau_previews_as_constant():
    assert (rates(ScheduleSettings("plateau", factor=0.5, patience=1)) == BASE).all()


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (ScheduleSettings("warm"), "schedule.kind must be one of none, step"),
        (ScheduleSettings("step", step_size=0), "schedule.step_size must be ≥ 1, got 0"),
        (ScheduleSettings("exponential", gamma=1.5), r"schedule.gamma must be in \(0, 1\], got 1.5"),
        (ScheduleSettings("multistep"), "schedule.milestones must name at least one epoch for multistep, got"),
        (
            ScheduleSettings("multistep", milestones=(5, 2)),
            r"schedule.milestones must be increasing epochs ≥ 0, got \[5, 2\]",
        ),
        (ScheduleSettings("cosine", warmup_epochs=12), r"schedule.warmup_epochs must be below epochs \(12\)"),
        (ScheduleSettings("cosine", min_lr=-1.0), "schedule.min_lr must be ≥ 0, got -1.0"),
        (ScheduleSettings("plateau", factor=1.0), r"schedule.factor must be in \(0, 1\), got 1.0"),
    ],
)
def test_a_setting_out_of_range_is_named(settings, message):
    with pytest.raises(TrainingError, match=message):
        TrainingConfig(epochs=12, schedule=settings).validate()


@pytest.fixture(scope="module")
def moons():
    return load_builtin("moons", n_samples=200, seed=0).split(0.2, seed=0)


def trainer(moons, **settings):
    train, val = moons
    document = mlp()
    config = TrainingConfig(**{"epochs": 4, "batch_size": 40, "optimizer": "sgd", "learning_rate": 0.1, **settings})
    return Trainer(document, train, val, config, model=Model(document, seed=0))


class RecordingEngine:
    """Wraps an engine and records the rate of every step."""

    def __init__(self, engine):
        self.engine, self.rates = engine, []

    def __getattr__(self, name):
        return getattr(self.engine, name)

    def train_step(self, x, y, l1, l2, learning_rate):
        self.rates.append(learning_rate)
        return self.engine.train_step(x, y, l1, l2, learning_rate)


def test_the_trainer_steps_with_the_schedules_rates_and_reports_the_last(moons):
    run = trainer(moons, schedule=ScheduleSettings("onecycle"))
    recorder = RecordingEngine(run.engine)
    run.engine = recorder
    events = list(run.run())
    expected = preview(run.config, 4)
    np.testing.assert_array_equal(recorder.rates, expected)
    epochs = [e for e in events if isinstance(e, EpochEnded)]
    assert [e.learning_rate for e in epochs] == list(expected.reshape(4, 4)[:, -1])


def test_a_live_rate_change_rescales_the_rest_of_the_schedule(moons):
    run = trainer(moons, schedule=ScheduleSettings("step", step_size=1, gamma=0.5))
    recorder = RecordingEngine(run.engine)
    run.engine = recorder
    for event in run.run():
        if isinstance(event, BatchEnded) and (event.epoch, event.batch) == (2, 2):
            run.control(SetLearningRate(1.0))
    # epochs 1–2 from base 0.1 (halved at epoch 2), from batch 3 of epoch 2 on from base 1.0
    assert recorder.rates == pytest.approx([0.1] * 4 + [0.05, 0.05, 0.5, 0.5] + [0.25] * 4 + [0.125] * 4)


def test_the_plateau_schedule_follows_the_validation_loss(moons):
    run = trainer(moons, schedule=ScheduleSettings("plateau", factor=0.5, patience=0), learning_rate=0.5)
    epochs = [e for e in run.run() if isinstance(e, EpochEnded)]
    expected, scale, best = [], 1.0, math.inf
    for epoch in epochs:
        expected.append(0.5 * scale)
        if epoch.val_loss < best * (1 - 1e-4):
            best = epoch.val_loss
        else:
            scale *= 0.5
    assert [e.learning_rate for e in epochs] == pytest.approx(expected)


def test_the_plateau_schedule_needs_validation_data(moons):
    train, _ = moons
    config = TrainingConfig(schedule=ScheduleSettings("plateau"))
    with pytest.raises(TrainingError, match=r"schedule\.kind 'plateau' needs validation data"):
        Trainer(mlp(), train, None, config)


def test_schedule_is_rated_by_position_not_by_calls():
    schedule = Schedule(ScheduleSettings("step", step_size=2, gamma=0.5), 4, 3)
    assert [schedule.rate(1.0, epoch, 1) for epoch in (1, 2, 3, 4)] == [1.0, 1.0, 0.5, 0.5]


def test_a_sampled_preview_is_the_full_one_where_short_and_stays_small_where_long():
    short = TrainingConfig(epochs=4, learning_rate=0.004, schedule=ScheduleSettings(kind="cosine", warmup_epochs=1))
    positions, rates = preview_points(short, 20)
    np.testing.assert_array_equal(rates, preview(short, 20))
    assert positions[0] == pytest.approx(1 / 20) and positions[-1] == pytest.approx(4)
    long = TrainingConfig(epochs=100_000, schedule=ScheduleSettings(kind="step", step_size=30_000, gamma=0.5))
    positions, rates = preview_points(long, 20, max_points=500)
    assert len(rates) == 500 and positions[-1] == pytest.approx(100_000)
    assert set(np.round(rates / long.learning_rate, 6)) == {1.0, 0.5, 0.25, 0.125}
