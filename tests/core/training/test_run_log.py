"""Run logs: written line by line, read while they grow, refused or stopped at with a clear message."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import pytest

from core.training.events import (
    BatchEnded,
    EarlyStopChecked,
    EpochEnded,
    SettingChanged,
    TrainingEvent,
    TrainingFinished,
    TrainingStarted,
    event_from_json,
)
from core.training.history import RunHistory
from core.training.run_log import (
    RUN_LOG_FORMAT,
    RUN_LOG_VERSION,
    NotARunLogError,
    RunLogError,
    RunLogReader,
    RunLogWriter,
    log_header,
    log_line,
    read_run_log,
)

STARTED = TrainingStarted("MLP", "digits", 240, 60, 1000, 3, 2, {"epochs": 3, "learning_rate": 0.001})


def epoch(n: int, val_loss: float | None = 1.0) -> EpochEnded:
    return EpochEnded(n, 2.0 / n, 2.0 / n, 0.0, 0.3 * n, val_loss, None if val_loss is None else 0.25 * n, 1e-3, 0.1)


def batch(n: int, b: int) -> BatchEnded:
    return BatchEnded(n, b, 2, 2.0 / n, 2.0 / n, 0.0, 0.5, 0.01)


FINISHED = TrainingFinished("completed", "completed 3 epochs", 3, None, None, "last")


def run_events() -> list[TrainingEvent]:
    events: list[TrainingEvent] = [STARTED]
    for n in (1, 2, 3):
        events += [batch(n, 1), batch(n, 2), epoch(n)]
    return [*events, FINISHED]


def lines(events: list[TrainingEvent], run: str | None = "baseline") -> list[str]:
    header = log_header(run)
    return [log_line(event, header) for event in events]


def write(path: Path, text: str, mode: str = "a") -> None:
    with open(path, mode, encoding="utf-8", newline="") as stream:
        stream.write(text)


def test_every_event_survives_a_line_and_back():
    events = [
        *run_events()[:-1],
        SettingChanged(2, 1, "dropout", True, False),
        EarlyStopChecked(3, "val_loss", 0.5, False, 2, 0.4, 1, 1, True),
        epoch(4, val_loss=None),
        FINISHED,
    ]
    for event in events:
        assert event_from_json(json.loads(log_line(event))) == event


def test_the_first_line_identifies_the_run():
    first = json.loads(lines(run_events())[0])
    assert first["event"] == "TrainingStarted"
    assert first["format"] == RUN_LOG_FORMAT and first["version"] == RUN_LOG_VERSION
    assert first["run"] == "baseline" and first["writer"] == "layerwise train"
    assert first["started"].endswith("Z") and first["network"] == "MLP"
    assert "run" not in json.loads(lines(run_events(), run=None)[0])


def test_complete_lines_are_read_with_the_run_name(tmp_path):
    path = tmp_path / "run.jsonl"
    write(path, "".join(lines(run_events())), "w")
    reader = RunLogReader(path)
    update = reader.poll()
    assert update.events == run_events() and update.error is None and not update.restarted
    assert reader.finished == FINISHED and reader.label == "baseline"
    assert reader.poll().events == []


def test_without_a_name_the_run_is_labelled_after_the_file(tmp_path):
    path = tmp_path / "overnight.jsonl"
    write(path, "".join(lines(run_events(), run=None)), "w")
    reader = RunLogReader(path)
    reader.poll()
    assert reader.label == "overnight.jsonl"


def test_a_partial_line_waits_for_the_rest(tmp_path):
    path = tmp_path / "run.jsonl"
    text = lines(run_events())
    write(path, text[0] + text[1][:20], "w")
    reader = RunLogReader(path)
    assert reader.poll().events == [STARTED]
    assert reader.poll().events == []
    write(path, text[1][20:] + text[2][:-1])  # the third line without its newline yet: whole, so read
    assert reader.poll().events == [batch(1, 1), batch(1, 2)]
    write(path, "\n" + text[3])
    assert reader.poll().events == [epoch(1)]
    assert reader.lines == 4


def test_growth_across_polls_adds_only_new_events(tmp_path):
    path = tmp_path / "run.jsonl"
    reader = RunLogReader(path)
    assert reader.poll().events == []  # not created yet
    write(path, "", "w")
    assert reader.poll().events == []  # created, empty
    seen: list[TrainingEvent] = []
    for line in lines(run_events()):
        write(path, line)
        seen += reader.poll().events
    assert seen == run_events() == reader.events
    assert reader.finished == FINISHED


def test_a_byte_limit_reads_a_long_log_in_steps(tmp_path):
    path = tmp_path / "run.jsonl"
    write(path, "".join(lines(run_events())), "w")
    reader = RunLogReader(path)
    updates = [reader.poll(max_bytes=300)]
    while updates[-1].more:
        updates.append(reader.poll(max_bytes=300))
    assert len(updates) > 3
    assert [e for u in updates for e in u.events] == run_events()


def test_a_malformed_line_is_named_with_its_number_and_what_came_before_is_kept(tmp_path):
    path = tmp_path / "run.jsonl"
    text = lines(run_events())
    write(path, "".join(text[:3]) + '{"event": "EpochEnded", "epoch": 1, "train_loss": \n' + text[3], "w")
    reader = RunLogReader(path)
    update = reader.poll()
    assert update.events == run_events()[:3]
    assert isinstance(update.error, RunLogError) and update.error.line == 4
    assert str(update.error).startswith(f"{path}, line 4: malformed line")
    assert reader.events == run_events()[:3] and reader.error is update.error
    assert reader.poll().events == []


def test_an_event_with_a_field_of_the_wrong_kind_is_named_with_its_line(tmp_path):
    path = tmp_path / "run.jsonl"
    text = lines(run_events())
    write(path, text[0] + '{"event": "EpochEnded", "epoch": 1, "train_loss": "high"}\n', "w")
    update = RunLogReader(path).poll()
    assert update.error is not None and update.error.line == 2
    assert str(update.error) == (
        f"{path}, line 2: malformed event: EpochEnded field 'train_loss' should be a number, got 'high'"
    )


def test_unknown_events_and_fields_are_skipped(tmp_path):
    path = tmp_path / "run.jsonl"
    text = lines(run_events())
    extra = json.loads(text[3])
    extra["gpu_memory"] = 123
    write(path, text[0] + '{"event": "CheckpointSaved", "path": "x.pt"}\n' + json.dumps(extra) + "\n", "w")
    reader = RunLogReader(path)
    assert reader.poll().events == [STARTED, epoch(1)]
    assert reader.lines == 3


def test_truncation_starts_over(tmp_path):
    path = tmp_path / "run.jsonl"
    text = lines(run_events())
    write(path, "".join(text[:6]), "w")
    reader = RunLogReader(path)
    assert len(reader.poll().events) == 6
    with open(path, "r+b") as stream:  # the same file, cut short: a writer that starts again
        stream.truncate(0)
    write(path, "".join(text[:2]))
    update = reader.poll()
    assert update.restarted and update.events == run_events()[:2]
    assert reader.events == run_events()[:2]


def test_a_replaced_file_starts_over(tmp_path):
    path, other = tmp_path / "run.jsonl", tmp_path / "new.jsonl"
    text = lines(run_events())
    write(path, "".join(text[:4]), "w")
    reader = RunLogReader(path)
    reader.poll()
    write(other, "".join(lines(run_events(), run="second")), "w")
    os.replace(other, path)
    update = reader.poll()
    assert update.restarted and update.events == run_events()
    assert reader.label == "second" and reader.finished == FINISHED


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("epoch,loss\n1,0.5\n", "does not start with a JSON object"),
        ("epoch,loss", "does not start with a JSON object"),
        ("\x89PNG\r\n\x1a\n", "does not start with a JSON object"),
        ('{"layers": []}\n', "first line is not a TrainingStarted event"),
        ('{"format": "something-else", "event": "TrainingStarted"}\n', "its format is 'something-else'"),
        ("[1, 2]\n", "does not start with a JSON object"),
        ("{not json\n", "first line is not JSON"),
    ],
)
def test_a_file_that_is_not_a_run_log_is_refused_saying_so(tmp_path, content, reason):
    path = tmp_path / "other.txt"
    write(path, content, "w")
    update = RunLogReader(path).poll()
    assert isinstance(update.error, NotARunLogError)
    assert str(update.error).startswith(f"{path}: not a Layerwise run log: ")
    assert reason in str(update.error)
    with pytest.raises(NotARunLogError, match="not a Layerwise run log"):
        read_run_log(path)


def test_a_log_from_a_newer_version_is_refused_saying_so(tmp_path):
    path = tmp_path / "run.jsonl"
    first = json.loads(lines(run_events())[0])
    write(path, json.dumps({**first, "version": RUN_LOG_VERSION + 1}) + "\n", "w")
    with pytest.raises(NotARunLogError, match="newer than this Layerwise reads"):
        read_run_log(path)


def test_a_log_without_the_header_fields_is_still_read(tmp_path):
    """Logs written before the first line carried "format" and "version"."""
    path = tmp_path / "old.jsonl"
    write(path, "".join(json.dumps(e.to_json()) + "\n" for e in run_events()), "w")
    assert read_run_log(path) == run_events()


def test_windows_line_ends_and_a_byte_order_mark_are_read(tmp_path):
    path = tmp_path / "run.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + "".join(lines(run_events())).replace("\n", "\r\n").encode())
    assert read_run_log(path) == run_events()


def test_a_missing_file_cannot_be_read_at_once(tmp_path):
    with pytest.raises(RunLogError, match="no such file"):
        read_run_log(tmp_path / "nothing.jsonl")


def test_nan_losses_are_written_and_read_back(tmp_path):
    path = tmp_path / "run.jsonl"
    diverged = EpochEnded(1, float("nan"), float("nan"), 0.0, 0.1, float("inf"), 0.1, 1e-3, 0.1)
    write(path, "".join(lines([STARTED, diverged])), "w")
    ((_, read),) = [read_run_log(path)]
    assert read.val_loss == float("inf") and read.train_loss != read.train_loss


def test_an_event_missing_a_field_is_named_with_its_line(tmp_path):
    path = tmp_path / "run.jsonl"
    write(path, lines(run_events())[0] + '{"event": "EpochEnded", "epoch": 1}\n', "w")
    update = RunLogReader(path).poll()
    assert str(update.error) == f"{path}, line 2: malformed event: EpochEnded has no field 'train_loss'"


def test_the_writer_flushes_every_line_but_batches():
    class Stream(io.StringIO):
        flushes = 0

        def flush(self) -> None:
            Stream.flushes += 1

    stream = Stream()
    writer = RunLogWriter(stream, run="x")
    for event in run_events():
        writer.write(event)
    assert Stream.flushes == len([e for e in run_events() if not isinstance(e, BatchEnded)])
    assert [event_from_json(json.loads(line)) for line in stream.getvalue().splitlines()] == run_events()


def test_a_history_fed_from_a_log_equals_one_fed_directly(tmp_path):
    path = tmp_path / "run.jsonl"
    write(path, "".join(lines(run_events())), "w")
    direct, logged = RunHistory(), RunHistory()
    for event in run_events():
        direct.add(event)
    for event in read_run_log(path):
        logged.add(event)
    assert logged == direct
    logged.clear()
    assert logged == RunHistory()
