"""Typed live controls: values checked, queued in order, pause and stop at once, picklable."""

from __future__ import annotations

import pickle
import threading
import time

import pytest

from core.training.controls import (
    ControlError,
    LiveSettings,
    Pause,
    Resume,
    RunControls,
    SetAugmentation,
    SetDropout,
    SetL1,
    SetL2,
    SetLearningRate,
    Stop,
    live_setting,
)


def settings() -> LiveSettings:
    return LiveSettings(dropout=True, l1=0.0, l2=0.0, learning_rate=0.001, augment=frozenset())


def test_each_live_setting_reports_old_and_new_as_run_logs_record_them():
    live = settings()
    assert live.apply(SetL1(0.01)) == (0.0, 0.01)
    assert live.apply(SetL2(0.02)) == (0.0, 0.02)
    assert live.apply(SetDropout(False)) == (True, False)
    assert live.apply(SetLearningRate(0.5)) == (0.001, 0.5)
    assert live.apply(SetAugmentation(frozenset({"noise", "flip"}))) == ([], ["flip", "noise"])
    assert live == LiveSettings(False, 0.01, 0.02, 0.5, frozenset({"flip", "noise"}))


@pytest.mark.parametrize(
    ("control", "message"),
    [
        (SetLearningRate(0.0), "learning_rate must be > 0, got 0.0"),
        (SetLearningRate(float("nan")), "learning_rate must be > 0"),
        (SetL1(-1.0), "l1 must be ≥ 0, got -1.0"),
        (SetL2(float("inf")), "l2 must be ≥ 0"),
        (SetAugmentation(frozenset({"warp"})), "unknown augmentation 'warp'"),
    ],
)
def test_values_out_of_range_are_refused_and_change_nothing(control, message):
    live = settings()
    with pytest.raises(ControlError, match=message):
        live.apply(control)
    assert live == settings()


def test_live_setting_builds_the_control_a_setting_name_stands_for():
    assert live_setting("l2", 0.1) == SetL2(0.1)
    assert live_setting("dropout", False) == SetDropout(False)
    assert live_setting("augment", {"noise"}) == SetAugmentation(frozenset({"noise"}))
    with pytest.raises(ControlError, match="'epochs' is not a live setting"):
        live_setting("epochs", 3)


def test_settings_wait_in_order_while_pause_and_stop_act_at_once():
    controls = RunControls()
    controls.send(SetL2(0.1))
    controls.send(SetDropout(False))
    controls.send(Pause())
    assert controls.paused and not controls.stop_requested
    assert controls.pending() == [SetL2(0.1), SetDropout(False)]
    assert controls.pending() == []
    controls.send(Resume())
    assert not controls.paused
    controls.send(Pause())
    controls.send(Stop())  # a stop releases a paused run, which then ends
    assert controls.stop_requested and not controls.paused


def test_a_paused_run_waits_until_resumed_from_another_thread():
    controls = RunControls()
    controls.send(Pause())
    released = threading.Event()

    def engine() -> None:
        controls.wait_while_paused()
        released.set()

    thread = threading.Thread(target=engine)
    thread.start()
    time.sleep(0.1)
    assert not released.is_set()
    controls.send(Resume())
    thread.join(timeout=5)
    assert released.is_set()


def test_anything_but_a_control_is_refused():
    with pytest.raises(TypeError, match="not a training control"):
        RunControls().send(("set_l2", 0.1))  # type: ignore[arg-type]


def test_controls_travel_to_a_training_process_unchanged():
    for control in (Pause(), Resume(), Stop(), SetL1(0.1), SetAugmentation(frozenset({"shift"}))):
        assert pickle.loads(pickle.dumps(control)) == control
