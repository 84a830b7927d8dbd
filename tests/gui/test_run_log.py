"""File → Open Run Log: a run written by `layerwise train --log` on the curves, followed while it grows."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

import main
from core.training.events import event_from_json
from gui.main_window import MainWindow
from gui.panels.run_log_follower import FollowState
from gui.panels.training_curves import STATUS_ROLE

FOLLOW_TIMEOUT_MS = 5_000


@pytest.fixture
def window_network() -> str:
    """The ``window`` fixture's network: the built-in digits dataset fits its 1×8×8 input."""
    return "digits_cnn"


def train_with_log(capsys, log: Path) -> list[dict]:
    """Train the MLP on digits with early stopping (it stops at epoch 19), logging to ``log``; the log's records."""
    status = main.main(
        [
            "train",
            "mlp",
            "--dataset",
            "digits",
            "--samples",
            "400",
            "--train-subset",
            "60",
            "--epochs",
            "30",
            "--lr",
            "0.01",
            "--batch-size",
            "16",
            "--early-stop",
            "2",
            "--log",
            str(log),
            "--name",
            "subset 60",
        ]
    )
    _out, err = capsys.readouterr()
    assert status == 0, err
    return [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]


def log_run(win: MainWindow):
    return next(run for run in win.training_panel.runs if run.source)


def run_status(win: MainWindow, run) -> str:
    items = win.curves_panel.run_list.list
    index = next(i for i, other in enumerate(win.training_panel.runs) if other is run)
    return items.item(index).data(STATUS_ROLE)


def test_a_log_written_by_layerwise_train_shows_its_epochs_and_markers(qtbot, window, capsys, tmp_path):
    records = train_with_log(capsys, tmp_path / "run.jsonl")
    epochs = [r for r in records if r["event"] == "EpochEnded"]
    assert window.open_run_log(tmp_path / "run.jsonl")
    run, plots = log_run(window), window.curves_panel.plots
    assert run.name == "subset 60" and run is window.training_panel.current
    assert run.epochs == [r["epoch"] for r in epochs] == list(range(1, 20))
    assert run.train_loss == [r["train_loss"] for r in epochs]
    assert run.val_loss == [r["val_loss"] for r in epochs]
    assert run.val_accuracy == [r["val_accuracy"] for r in epochs]
    assert len(run.batch_x) == sum(r["event"] == "BatchEnded" for r in records)
    for curve in ("train_loss", "val_loss", "train_acc", "val_acc"):
        assert plots.curve_points(curve) == 19, curve
    assert plots.marker_labels() == [
        "best: epoch 17, val loss 0.657",
        "stopped at 19 after 2 epochs without improvement",
    ]
    assert run.finished is not None and run.finished.reason == "early_stopped"
    assert run_status(window, run) == "finished"
    assert window.curves_dock.isVisible()
    assert "Opened subset 60: 19 epochs, finished (stopped at epoch 19" in window.statusBar().currentMessage()


def test_a_growing_log_grows_the_curves_until_its_last_event(qtbot, window, capsys, tmp_path):
    records = train_with_log(capsys, tmp_path / "full.jsonl")
    lines = [json.dumps(record) + "\n" for record in records]
    epoch_ends = [i for i, record in enumerate(records) if record["event"] == "EpochEnded"]
    live = tmp_path / "live.jsonl"
    live.write_text("", encoding="utf-8")  # the writer has created the file, nothing more yet
    assert window.open_run_log(live)
    run, plots = log_run(window), window.curves_panel.plots
    follower = window.training_panel.followers[id(run)]
    assert follower.state is FollowState.WAITING and run.name == "live.jsonl"
    assert run_status(window, run) == "waiting for the log"

    written = 0
    for epochs_so_far in (1, 2, 5):
        end = epoch_ends[epochs_so_far - 1] + 1
        chunk = "".join(lines[written:end])
        with open(live, "a", encoding="utf-8") as stream:  # a burst that ends inside a line
            stream.write(chunk + lines[end][:10])
            stream.flush()
        written = end
        lines[end] = lines[end][10:]
        qtbot.waitUntil(lambda n=epochs_so_far: plots.curve_points("val_loss") == n, timeout=FOLLOW_TIMEOUT_MS)
        assert run.epochs == list(range(1, epochs_so_far + 1))
        assert follower.state is FollowState.FOLLOWING and run_status(window, run) == "following"
    assert run.name == "subset 60"  # the log's first line names the run

    with open(live, "a", encoding="utf-8") as stream:
        stream.write("".join(lines[written:]))
    qtbot.waitUntil(lambda: follower.state is FollowState.FINISHED, timeout=FOLLOW_TIMEOUT_MS)
    assert plots.curve_points("val_loss") == 19
    assert run_status(window, run) == "finished"
    assert run.finished == event_from_json(records[-1])
    assert "finished, no longer followed" in window.statusBar().currentMessage()


def test_a_malformed_line_stops_following_with_its_line_number(qtbot, window, capsys, tmp_path):
    records = train_with_log(capsys, tmp_path / "run.jsonl")
    first_epoch = next(i for i, record in enumerate(records) if record["event"] == "EpochEnded")
    broken = tmp_path / "broken.jsonl"
    good = "".join(json.dumps(record) + "\n" for record in records[: first_epoch + 1])
    broken.write_text(good + '{"event": "BatchEnded", "epoch": 2,\n', encoding="utf-8")
    assert window.open_run_log(broken)
    run = log_run(window)
    assert run.epochs == [1]  # what came before the bad line is kept
    message = window.statusBar().currentMessage()
    assert f"{broken}, line {first_epoch + 2}: malformed line" in message
    assert "Traceback" not in message
    assert run_status(window, run) == f"stopped at line {first_epoch + 2}"


def test_a_file_that_is_not_a_run_log_is_refused_saying_so(window, tmp_path):
    other = tmp_path / "metrics.csv"
    other.write_text("epoch,loss\n1,0.5\n", encoding="utf-8")
    assert not window.open_run_log(other)
    assert "not a Layerwise run log" in window.statusBar().currentMessage()
    assert not any(run.source for run in window.training_panel.runs)


def test_a_log_run_stays_beside_the_next_network_and_can_be_removed(qtbot, window, capsys, tmp_path):
    train_with_log(capsys, tmp_path / "run.jsonl")
    assert window.open_run_log(tmp_path / "run.jsonl")
    assert not window.open_run_log(tmp_path / "run.jsonl")  # the same log twice: it is already there
    assert "already open" in window.statusBar().currentMessage()
    assert window.new_network() is None
    run = log_run(window)
    assert window.training_panel.runs == [run]
    panel = window.curves_panel.run_list
    panel.list.item(0).setSelected(True)
    panel.remove_selected()
    assert window.training_panel.runs == [] and not window.training_panel.followers
    assert not math.isnan(run.val_loss[0])


def test_a_log_opened_during_a_run_of_the_app_stays_faded_beside_it(qtbot, window, capsys, tmp_path):
    train_with_log(capsys, tmp_path / "run.jsonl")
    panel = window.training_panel
    panel.form.set_values({"epochs": 3, "batch_size": 32, "subset": 300})
    assert panel.start()
    assert window.open_run_log(tmp_path / "run.jsonl")
    app_run, logged = panel.runs[0], log_run(window)
    assert panel.current is app_run and window.curves_panel.current is app_run
    qtbot.waitUntil(lambda: not panel.is_training, timeout=60_000)
    assert app_run.epochs == [1, 2, 3] and app_run.name == "Run 1: baseline"  # a log is no reference
    assert len(logged.epochs) == 19 and run_status(window, logged) == "finished"
    assert window.curves_panel.plots.curve_points("val_loss") == 3  # the app's run is the one drawn in full
    snapshot = window._recovery_snapshot()
    assert snapshot is not None and snapshot.runs == [app_run]  # the log's run is in its file already
