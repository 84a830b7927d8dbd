"""Run histories: what the plots and the run list read from trainer events."""

from __future__ import annotations

import csv
import io
import math

import numpy as np
import pytest

from core.training.events import (
    BatchEnded,
    EarlyStopChecked,
    EpochEnded,
    SettingChanged,
    TrainingFinished,
    TrainingStarted,
)
from core.training.history import RunHistory, describe_difference, format_setting, runs_to_csv


def epoch(number: int, train: float, val: float | None, acc: float = 0.5) -> EpochEnded:
    return EpochEnded(number, train, train, 0.0, acc, val, None if val is None else acc, 1e-3, 0.1)


def history_of(train_losses: list[float], val_losses: list[float]) -> RunHistory:
    run = RunHistory()
    for number, (train, val) in enumerate(zip(train_losses, val_losses), start=1):
        run.add(epoch(number, train, val))
    return run


def test_events_fill_the_curves_and_batch_positions():
    run = RunHistory()
    run.add(TrainingStarted("net", "digits", 100, 20, 10, 2, 4, {"dropout": True, "l2": 0.0}))
    for number in (1, 2):
        for batch in range(1, 5):
            run.add(BatchEnded(number, batch, 4, 1.0 / batch, 1.0 / batch, 0.0, 0.5, 0.0))
        run.add(epoch(number, 0.5, 0.6))
    assert run.settings["dataset"] == "digits"
    assert run.epochs == [1, 2]
    assert run.batch_x == pytest.approx([0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0])
    assert run.has_validation


def test_setting_change_marker_sits_at_the_start_of_its_batch():
    run = RunHistory()
    run.add(TrainingStarted("net", "digits", 100, 20, 10, 5, 10, {}))
    run.add(SettingChanged(3, 6, "dropout", True, False))
    run.add(SettingChanged(3, 6, "l2", 0.0, 0.001))
    assert [(m.x, m.kind, m.label) for m in run.markers] == [
        (2.5, "setting", "dropout off"),
        (2.5, "setting", "L2 = 0.001"),
    ]


def test_early_stop_markers_name_best_and_stop():
    run = RunHistory()
    run.add(EarlyStopChecked(24, "val_accuracy", 0.97, False, 14, 0.981, 10, 10, True))
    labels = {m.kind: m.label for m in run.markers}
    assert labels["best"] == "best: epoch 14, val acc 0.981"
    assert labels["stopped"] == "stopped at 24 after 10 epochs without improvement"
    assert [m.x for m in run.markers] == [14.0, 24.0]


FALLING = [1.0 - 0.09 * i for i in range(10)]


def test_overfitting_span_runs_from_the_lowest_validation_loss_while_training_loss_falls():
    run = history_of(FALLING, [1.0, 0.8, 0.6, 0.5, 0.45, 0.5, 0.6, 0.7, 0.8, 0.9])
    # Trailing means over 3 epochs: validation is lowest at epoch 6, then rises.
    assert run.overfitting_spans() == [(6.0, 10.0)]


def test_no_overfitting_when_both_losses_fall_or_both_rise():
    assert history_of(FALLING, [1.1 - 0.1 * i for i in range(10)]).overfitting_spans() == []
    # Validation rises, but so does training loss: divergence, not overfitting.
    rising = [0.5 + 0.1 * i for i in range(10)]
    assert history_of(rising, rising).overfitting_spans() == []


def test_noise_on_a_plateau_is_not_overfitting():
    plateau = [0.30, 0.33, 0.30, 0.33, 0.30, 0.33, 0.30, 0.33, 0.30, 0.33]
    assert history_of(FALLING, plateau).overfitting_spans() == []


def test_a_new_low_ends_the_stretch():
    val = [1.0, 0.6, 0.5, 0.6, 0.7, 0.8, 0.5, 0.3, 0.2, 0.2]
    # Smoothed over 3 epochs: lowest at epoch 4, above it until epoch 7, below from epoch 8.
    assert history_of(FALLING, val).overfitting_spans() == [(4.0, 7.0)]


def test_stretches_shorter_than_two_epochs_are_dropped():
    val = [1.0, 0.6, 0.5, 0.45, 0.6, 0.3, 0.2, 0.15, 0.1, 0.1]
    assert history_of(FALLING, val).overfitting_spans() == []


def test_epochs_without_validation_are_skipped():
    run = history_of([1.0, 0.8, 0.6], [math.nan, math.nan, math.nan])
    assert run.overfitting_spans() == []
    assert not run.has_validation


def test_smoothed_batch_loss_is_bias_corrected():
    run = RunHistory()
    run.batch_loss = [2.0, 2.0, 2.0]
    assert run.smoothed_batch_loss() == pytest.approx([2.0, 2.0, 2.0])


@pytest.mark.parametrize(
    ("name", "value", "text"),
    [
        ("dropout", False, "dropout off"),
        ("l1", 0.0, "L1 off"),
        ("l2", 1e-3, "L2 = 0.001"),
        ("learning_rate", 0.01, "lr = 0.01"),
        ("augment", ["noise", "flip"], "augment: flip, noise"),
        ("augment", {"kinds": []}, "augment off"),
        ("batch_size", 32, "batch 32"),
    ],
)
def test_format_setting(name, value, text):
    assert format_setting(name, value) == text


def test_run_names_say_what_differed():
    base = {"dataset": "digits", "dropout": True, "l2": 0.0, "augment": {"kinds": []}, "learning_rate": 0.001}
    assert describe_difference(base, None) == "baseline"
    assert describe_difference(dict(base), base) == "same settings"
    changed = {**base, "dropout": False, "l2": 0.001, "augment": {"kinds": ["noise"]}}
    assert describe_difference(changed, base) == "dropout off, L2 = 0.001, augment: noise"


def test_csv_has_a_row_per_epoch_and_blank_missing_values():
    first = history_of([1.0, 0.5], [0.9, 0.6])
    first.name = "Run 1"
    second = history_of([0.7], [math.nan])
    second.name = "Run 2: dropout off"
    rows = list(csv.DictReader(io.StringIO(runs_to_csv([first, second]))))
    assert [(r["run"], r["epoch"]) for r in rows] == [("Run 1", "1"), ("Run 1", "2"), ("Run 2: dropout off", "1")]
    assert float(rows[1]["val_loss"]) == 0.6
    assert rows[2]["val_loss"] == ""


def test_finished_event_is_kept():
    run = RunHistory()
    event = TrainingFinished("completed", "completed 3 epochs", 3, None, None, "last")
    run.add(event)
    assert run.finished is event


def test_a_new_lowest_raw_validation_loss_is_never_inside_a_stretch():
    val = [1.0, 0.6, 0.5, 0.6, 0.7, 0.8, 0.45, 0.8, 0.85, 0.9]
    # Epoch 7 is the best epoch although its 3-epoch mean is not the lowest.
    assert history_of(FALLING, val).overfitting_spans() == [(4.0, 6.0), (7.0, 10.0)]


def test_smoothed_loss_grown_batch_by_batch_equals_smoothing_it_at_once():
    values = [2.0, 1.5, 1.8, 0.9, 1.1, 0.7]
    growing, whole = RunHistory(), RunHistory()
    whole.batch_loss = list(values)
    for value in values:
        growing.batch_loss.append(value)
        growing.smoothed_batch_loss()
    np.testing.assert_allclose(growing.smoothed_batch_loss(), whole.smoothed_batch_loss())
    expected, average = [], 0.0
    for index, value in enumerate(values):
        average = 0.9 * average + 0.1 * value
        expected.append(average / (1 - 0.9 ** (index + 1)))
    np.testing.assert_allclose(whole.smoothed_batch_loss(), expected)
