"""Early stopping: no new best in `patience` consecutive epochs stops, a single dip does not."""

from __future__ import annotations

import math

import pytest

from core.errors import ParamError
from core.training.early_stopping import EarlyStopDecision, EarlyStopping


def run(stopper: EarlyStopping, values: list[float]) -> list[EarlyStopDecision]:
    """Feed epochs 1, 2, … and return every decision, stopping after the first `stop`."""
    decisions = []
    for epoch, value in enumerate(values, start=1):
        decisions.append(stopper.update(epoch, value))
        if decisions[-1].stop:
            break
    return decisions


def test_loss_stops_patience_epochs_after_the_best_not_at_the_first_dip():
    decisions = run(EarlyStopping(patience=3), [1.0, 0.8, 0.85, 0.9, 0.79, 0.8, 0.81, 0.82, 0.5])
    assert [d.improved for d in decisions] == [True, True, False, False, True, False, False, False]
    assert [d.epochs_without_improvement for d in decisions] == [0, 0, 1, 2, 0, 1, 2, 3]
    assert [d.stop for d in decisions] == [False] * 7 + [True]
    last = decisions[-1]
    assert (last.epoch, last.value, last.best_epoch, last.best_value) == (8, 0.82, 5, 0.79)


def test_accuracy_must_go_up():
    stopper = EarlyStopping(patience=2, monitor="val_accuracy")
    assert stopper.mode == "max"
    decisions = run(stopper, [0.5, 0.7, 0.6, 0.75, 0.75, 0.74])
    assert [d.improved for d in decisions] == [True, True, False, True, False, False]
    assert decisions[-1].stop and decisions[-1].epoch == 6
    assert (stopper.best_epoch, stopper.best_value) == (4, 0.75)


def test_loss_mode_is_min_and_equal_value_is_no_improvement():
    stopper = EarlyStopping(patience=1)
    assert stopper.mode == "min"
    assert stopper.update(1, 0.5).improved
    decision = stopper.update(2, 0.5)
    assert not decision.improved and decision.stop and decision.best_epoch == 1


def test_gains_smaller_than_min_delta_count_toward_patience():
    stopper = EarlyStopping(patience=3, min_delta=0.1)
    decisions = run(stopper, [1.0, 0.95, 0.91, 0.89, 0.85])
    # 0.95 and 0.91 are within 0.1 of 1.0; 0.89 beats 1.0 - 0.1 and resets; 0.85 is within 0.1 of 0.89.
    assert [d.improved for d in decisions] == [True, False, False, True, False]
    assert [d.epochs_without_improvement for d in decisions] == [0, 1, 2, 0, 1]
    assert (stopper.best_epoch, stopper.best_value) == (4, 0.89)


def test_min_delta_applies_upward_for_accuracy():
    stopper = EarlyStopping(patience=5, monitor="val_accuracy", min_delta=0.02)
    assert [stopper.update(e, v).improved for e, v in enumerate([0.5, 0.51, 0.53], start=1)] == [True, False, True]


def test_nan_and_inf_never_improve_and_do_not_replace_the_best():
    stopper = EarlyStopping(patience=2)
    assert stopper.best_epoch is None and stopper.best_value is None
    first = stopper.update(1, math.nan)
    assert not first.improved and first.best_epoch is None and first.best_value is None
    assert first.epochs_without_improvement == 1 and not first.stop
    assert stopper.update(2, 0.7).improved  # the first finite value always improves
    assert not stopper.update(3, -math.inf).improved
    decision = stopper.update(4, math.nan)
    assert decision.stop and (decision.best_epoch, decision.best_value) == (2, 0.7)
    assert math.isnan(decision.value)


def test_only_nan_stops_after_patience_epochs():
    decisions = run(EarlyStopping(patience=3, monitor="val_accuracy"), [math.nan] * 5)
    assert len(decisions) == 3 and decisions[-1].stop and decisions[-1].best_epoch is None


def test_first_value_always_improves_even_with_min_delta():
    stopper = EarlyStopping(patience=1, min_delta=100.0)
    decision = stopper.update(1, 5.0)
    assert decision.improved and decision.best_value == 5.0


def test_decision_is_immutable():
    decision = EarlyStopping(patience=1).update(1, 1.0)
    with pytest.raises(AttributeError):
        decision.stop = True  # type: ignore[misc]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"patience": 0}, "patience must be a whole number ≥ 1, got 0"),
        ({"patience": 2.5}, "patience must be a whole number ≥ 1, got 2.5"),
        ({"patience": True}, "patience must be"),
        ({"patience": 3, "monitor": "train_loss"}, "monitor must be one of val_loss, val_accuracy, got 'train_loss'"),
        ({"patience": 3, "min_delta": -0.1}, "min_delta must be a finite number ≥ 0, got -0.1"),
        ({"patience": 3, "min_delta": math.nan}, "min_delta must be"),
        ({"patience": 3, "min_delta": math.inf}, "min_delta must be"),
    ],
)
def test_invalid_settings_are_refused_with_the_setting_and_value(kwargs, message):
    with pytest.raises(ParamError) as caught:
        EarlyStopping(**kwargs)
    assert str(caught.value).startswith(message)
