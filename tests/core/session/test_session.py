"""A training session: runs filed, named and dropped as their workers report, without any GUI."""

from __future__ import annotations

import time

import pytest

from core.data import load_builtin
from core.graph.fileformat import network_to_dict
from core.session.job import TrainingRequest
from core.session.session import SessionError, SessionNews, TrainingSession
from core.training.controls import SetL2, Stop
from core.training.events import SettingChanged
from core.training.history import RunHistory
from core.training.trainer import TrainingConfig
from tests.core.session.test_job import small_network

TIMEOUT = 60.0


@pytest.fixture(scope="module")
def data():
    return load_builtin("shapes", input_shape=(1, 12, 12), n_samples=160).split(0.25, 0)


def request(data, classes: int = 4, **settings) -> TrainingRequest:
    train, val = data
    config = TrainingConfig(**{"epochs": 2, "batch_size": 20, **settings})
    return TrainingRequest(network_to_dict(small_network(classes)), train, val, config)


def until_ended(session: TrainingSession) -> list[SessionNews]:
    news, deadline = [], time.perf_counter() + TIMEOUT
    while time.perf_counter() < deadline:
        step = session.poll()
        news.append(step)
        if step.ended:
            return news
        time.sleep(0.01)
    raise AssertionError("the run did not end")


@pytest.mark.parametrize("mode", ["thread", "process"])
def test_a_run_is_filed_named_and_its_weights_come_back(data, mode):
    session = TrainingSession(mode)
    run = session.start(request(data))
    assert session.running and session.current is run and session.runs == [run] and run.name == "Run 1"
    news = until_ended(session)
    assert not session.running and news[-1].outcome is not None and news[-1].failure is None
    assert run.finished.reason == "completed" and run.epochs == [1, 2]
    assert sum(len(step.events) for step in news) == len(run.batch_x) + 2 + 2  # batches, epochs, start and end
    assert run.name == "Run 1: baseline"
    assert session.outcome is news[-1].outcome and "fc/weight" in session.outcome.weights
    second = session.start(request(data, l2=0.01))
    until_ended(session)
    assert second.name == "Run 2: L2 = 0.01" and session.runs == [run, second]


def test_typed_controls_reach_the_running_trainer(data):
    session = TrainingSession("thread")
    run = session.start(request(data, epochs=500))
    while not run.batch_x:
        session.poll()
        time.sleep(0.01)
    session.control(SetL2(0.5))
    while not any(marker.kind == "setting" for marker in run.markers):
        session.poll()
        time.sleep(0.01)
    news = session.stop_and_wait()
    assert news.ended and run.finished.reason == "stopped"
    assert run.name.endswith("(live: L2 = 0.5)")


def test_a_run_that_cannot_start_is_dropped_and_says_why(data):
    session = TrainingSession("thread")
    session.start(request(data, classes=10))  # 10 class scores for 4 classes
    news = until_ended(session)
    assert "10 class scores" in news[-1].failure and "4 classes" in news[-1].failure
    assert session.runs == [] and session.current is None and not session.running


def test_one_run_at_a_time(data):
    session = TrainingSession("thread")
    session.start(request(data, epochs=500))
    with pytest.raises(SessionError, match="going already"):
        session.start(request(data))
    session.control(Stop())
    until_ended(session)
    assert len(session.runs) == 1


def test_a_new_network_keeps_only_the_runs_read_from_logs(data):
    session = TrainingSession("thread")
    own = session.start(request(data, epochs=1))
    until_ended(session)
    from_log = RunHistory(name="cluster run", source="/tmp/run.jsonl")
    session.runs.append(from_log)
    session.forget_network_runs()
    assert session.runs == [from_log] and own not in session.runs and session.current is None
    assert session.start(request(data, epochs=1)).name == "Run 1"
    session.shutdown()


def test_an_unknown_mode_is_refused():
    with pytest.raises(ValueError, match="'process' or 'thread'"):
        TrainingSession("cluster")  # type: ignore[arg-type]


def test_setting_changes_arrive_as_events(data):
    session = TrainingSession("thread")
    session.control(SetL2(0.1))  # nothing runs: ignored
    run = session.start(request(data, epochs=500))
    session.control(SetL2(0.1))
    seen: list = []
    deadline = time.perf_counter() + TIMEOUT
    while not any(isinstance(e, SettingChanged) for e in seen) and time.perf_counter() < deadline:
        seen += session.poll().events
        time.sleep(0.01)
    session.stop_and_wait()
    change = next(e for e in seen if isinstance(e, SettingChanged))
    assert (change.setting, change.old, change.new) == ("l2", 0.0, 0.1)
    assert run.finished.reason == "stopped"
