"""Run logs: a training run as JSON lines, written while it runs and read while it grows.

A run log holds one JSON object per line, one per :mod:`~core.training.events` event, in
the order the run emitted them (``docs/training.md`` describes every event and field).
The first line is the run's ``TrainingStarted`` event, with the fields of
:func:`log_header` added: ``"format": "layerwise-run-log"``, ``"version"``, the time
the run started and, when given, the run's name. Logs written before those fields
existed (a ``TrainingStarted`` first line without them) are read too.

:class:`RunLogWriter` writes a log; :class:`RunLogReader` reads one that another
process may still be appending to: each :meth:`RunLogReader.poll` returns the events of
the lines completed since the last one, keeps a partial last line for the next, starts
over when the file was truncated or replaced, and stops at a malformed line, naming
the file and the line.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any

from core.errors import LayerwiseError
from core.training.events import (
    BatchEnded,
    EventFormatError,
    TrainingEvent,
    TrainingFinished,
    TrainingStarted,
    event_from_json,
)

RUN_LOG_FORMAT = "layerwise-run-log"
"""The ``"format"`` field of a run log's first line."""
RUN_LOG_VERSION = 1
"""The newest version of the format this code reads and writes."""
FLUSH_SECONDS = 1.0
"""A writer flushes batch lines at least this often, so that a follower sees batches as they come."""
MAX_LINE_BYTES = 64 * 1024 * 1024
"""A longer line is refused: a run log's lines are short; this is some other file."""
HEADER_FIELDS = ("format", "version", "run", "started", "writer")
"""The fields :func:`log_header` adds to the first line, besides those of ``TrainingStarted``."""


class RunLogError(LayerwiseError):
    """A run log cannot be read: it is not one, or a line of it is malformed.

    Attributes
    ----------
    path
        The file.
    line
        The line at fault (1-based), or ``None`` when the file as a whole is at fault.
    """

    def __init__(self, path: str | os.PathLike[str], message: str, line: int | None = None) -> None:
        self.path, self.line = str(path), line
        where = f"{self.path}, line {line}" if line is not None else self.path
        super().__init__(f"{where}: {message}")


class NotARunLogError(RunLogError):
    """The file is not a Layerwise run log (its first line is not a run's ``TrainingStarted``)."""


def log_header(run: str | None = None, writer: str = "layerwise train", started: datetime | None = None) -> dict:
    """The fields that identify a run log, added to its first line.

    Parameters
    ----------
    run
        The run's name (a reader labels the run with it); left out when ``None``.
    writer
        What wrote the log, e.g. ``"layerwise train"``.
    started
        When the run started (default: now), written as ISO 8601 UTC.
    """
    moment = (started or datetime.now(timezone.utc)).astimezone(timezone.utc)
    header: dict[str, Any] = {"format": RUN_LOG_FORMAT, "version": RUN_LOG_VERSION}
    if run is not None:
        header["run"] = run
    header["started"] = moment.isoformat(timespec="seconds").replace("+00:00", "Z")
    header["writer"] = writer
    return header


def log_line(event: TrainingEvent, header: dict | None = None) -> str:
    """One line of a run log for ``event`` (with its newline); ``header`` goes into a ``TrainingStarted`` line.

    Numbers that JSON lacks (NaN, infinities: a diverged loss) are written as ``NaN``,
    ``Infinity`` and ``-Infinity``, as JavaScript and Python's ``json`` read them.
    """
    data = event.to_json()
    if header is not None and isinstance(event, TrainingStarted):
        data = {"event": data.pop("event"), **header, **data}
    return json.dumps(data, allow_nan=True, ensure_ascii=False) + "\n"


class RunLogWriter:
    """Writes a run's events to an open text stream as a run log.

    Every line but a batch's is flushed at once; batch lines at least every
    :data:`FLUSH_SECONDS`, so that a follower sees them without a flush per step.
    """

    def __init__(self, stream: IO[str], run: str | None = None, writer: str = "layerwise train") -> None:
        self.stream = stream
        self.header = log_header(run, writer)
        self._flushed_at = time.monotonic()

    def write(self, event: TrainingEvent) -> None:
        self.stream.write(log_line(event, self.header))
        now = time.monotonic()
        if not isinstance(event, BatchEnded) or now - self._flushed_at >= FLUSH_SECONDS:
            self.stream.flush()
            self._flushed_at = now


@dataclass
class LogUpdate:
    """What one :meth:`RunLogReader.poll` found.

    Attributes
    ----------
    events
        Events of the lines completed since the last poll, in order (after a restart,
        every event from the beginning).
    restarted
        The file was truncated or replaced: ``events`` replace everything read before.
    error
        The malformed line reading stopped at (the events before it are kept), or the
        refusal of a file that is not a run log.
    more
        Unread lines remain (the poll stopped at its byte limit): poll again soon.
    """

    events: list[TrainingEvent] = field(default_factory=list)
    restarted: bool = False
    error: RunLogError | None = None
    more: bool = False


class RunLogReader:
    """Reads a run log, incrementally, while another process may still be appending to it.

    Only complete lines are read: a partial last line stays for the next poll (a last
    line without a newline counts once it is a whole JSON object). A file that does not
    exist yet, or is empty, simply has no events so far. When the file shrinks, is
    replaced by another (a different inode), or its first line changes, reading starts
    over from its beginning. Lines of unknown events are skipped, and so are fields an
    event does not have, so that a newer writer may add some.

    Attributes
    ----------
    path
        The file.
    events
        Every event read so far.
    header
        The first line as a JSON object (``None`` before it was read).
    finished
        The run's ``TrainingFinished`` event, once read: nothing follows it.
    error
        The malformed line reading stopped at, or the refusal of the file; ``None`` while all is well.
    lines
        Complete lines read so far.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.events: list[TrainingEvent] = []
        self.header: dict[str, Any] | None = None
        self.finished: TrainingFinished | None = None
        self.error: RunLogError | None = None
        self.lines = 0
        self._offset = 0
        self._pending = b""
        self._tail_taken = False
        self._first_line = b""
        self._identity: tuple[int, int] | None = None

    # -- what the log says ---------------------------------------------------------------

    @property
    def run_name(self) -> str | None:
        """The name the first line gives the run, if any."""
        name = self.header.get("run") if self.header else None
        return name if isinstance(name, str) and name.strip() else None

    @property
    def label(self) -> str:
        """The run's name in the log, or else the file's name."""
        return self.run_name or self.path.name

    @property
    def started(self) -> TrainingStarted | None:
        first = self.events[0] if self.events else None
        return first if isinstance(first, TrainingStarted) else None

    # -- reading ---------------------------------------------------------------------------

    def poll(self, max_bytes: int | None = None) -> LogUpdate:
        """Read the lines completed since the last poll (at most about ``max_bytes`` of them).

        Never raises for the file's content: a malformed line or a file that is not a
        run log comes back as :attr:`LogUpdate.error` (and stays in :attr:`error`);
        after it, polls find nothing new unless the file starts over.

        Raises
        ------
        RunLogError
            When the file exists but cannot be read (permissions, a folder, …).
        """
        update = LogUpdate()
        try:
            with open(self.path, "rb") as stream:
                status = os.fstat(stream.fileno())
                if self._starts_over(stream, status):
                    self._reset()
                    update.restarted = True
                if self.error is not None or self.finished is not None:
                    return update
                stream.seek(self._offset)
                chunk = stream.read(max_bytes if max_bytes is not None else -1)
                update.more = max_bytes is not None and self._offset + len(chunk) < status.st_size
        except FileNotFoundError:
            return update
        except OSError as exc:
            raise RunLogError(self.path, f"cannot be read: {exc.strerror or exc}") from None
        self._offset += len(chunk)
        if self._tail_taken and chunk:
            # The last poll took a line that had no newline yet: this is its newline.
            chunk = chunk[1:] if chunk.startswith(b"\n") else chunk
            self._tail_taken = False
        data = self._pending + chunk
        lines = data.split(b"\n")
        self._pending = lines.pop()
        if self._pending and _whole_object(self._pending):
            lines.append(self._pending)  # a last line without its newline: it is complete
            self._pending, self._tail_taken = b"", True
        for raw in lines:
            self.lines += 1
            try:
                event = self._parse(raw)
            except RunLogError as exc:
                self.error = update.error = exc
                update.more = False
                return update
            if event is not None:
                self.events.append(event)
                update.events.append(event)
                if isinstance(event, TrainingFinished):
                    self.finished = event
                    update.more = False
                    return update
        if self.header is None and self._pending:
            self._check_beginning(self._pending)
        elif len(self._pending) > MAX_LINE_BYTES:
            self.error = RunLogError(self.path, f"line longer than {MAX_LINE_BYTES:,} bytes", self.lines + 1)
        if self.error is not None:
            update.error = self.error
            update.more = False
        return update

    def read_all(self) -> list[TrainingEvent]:
        """Every event of a finished (or abandoned) log, at once.

        Raises
        ------
        RunLogError
            When the file cannot be read, is not a run log, or a line is malformed.
        """
        if not self.path.exists():
            raise RunLogError(self.path, "no such file")
        update = self.poll()
        if update.error is not None:
            raise update.error
        return self.events

    def _starts_over(self, stream: IO[bytes], status: os.stat_result) -> bool:
        """Whether the file was truncated or replaced since the last poll."""
        identity = (status.st_dev, status.st_ino)
        if self._identity is None:
            self._identity = identity
            return False
        if identity != self._identity and status.st_ino:
            self._identity = identity
            return True
        if status.st_size < self._offset:
            return True
        if self._first_line:
            stream.seek(0)
            return stream.read(len(self._first_line)) != self._first_line
        return False

    def _reset(self) -> None:
        self.events.clear()
        self.header, self.finished, self.error = None, None, None
        self.lines, self._offset, self._pending, self._first_line = 0, 0, b"", b""
        self._tail_taken = False

    def _check_beginning(self, data: bytes) -> None:
        """Refuse early a file whose first line cannot begin a run log (a binary file, a CSV, …)."""
        problem = _beginning_problem(data)
        if problem is not None:
            self.error = NotARunLogError(self.path, f"not a Layerwise run log: {problem}")

    def _parse(self, raw: bytes) -> TrainingEvent | None:
        """The event of line :attr:`lines`; ``None`` for a blank line or an unknown event."""
        number = self.lines
        first = self.header is None
        if first:
            self._first_line = raw
        text_bytes = raw.removeprefix(b"\xef\xbb\xbf") if first else raw
        if not text_bytes.strip():
            if first:
                self._first_line = b""
            return None
        problem = _beginning_problem(text_bytes) if first else None
        if problem is not None:
            raise NotARunLogError(self.path, f"not a Layerwise run log: {problem}")
        try:
            data = json.loads(text_bytes.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            if first:
                raise NotARunLogError(self.path, "not a Layerwise run log: its first line is not JSON") from None
            raise RunLogError(self.path, f"malformed line: {_json_problem(exc)}", number) from None
        if not isinstance(data, dict):
            if first:
                raise NotARunLogError(self.path, "not a Layerwise run log: its first line is not a JSON object")
            raise RunLogError(self.path, "malformed line: not a JSON object", number)
        if first:
            self._check_header(data)
            self.header = data
        try:
            event = event_from_json(data)
        except EventFormatError as exc:
            raise RunLogError(self.path, f"malformed event: {exc}", number) from None
        return event

    def _check_header(self, data: dict[str, Any]) -> None:
        log_format, version = data.get("format"), data.get("version")
        if log_format is not None and log_format != RUN_LOG_FORMAT:
            raise NotARunLogError(self.path, f"not a Layerwise run log: its format is {log_format!r}")
        if data.get("event") != "TrainingStarted":
            raise NotARunLogError(self.path, "not a Layerwise run log: its first line is not a TrainingStarted event")
        if log_format is not None and (
            not isinstance(version, int) or isinstance(version, bool) or version > RUN_LOG_VERSION
        ):
            raise NotARunLogError(
                self.path,
                f"run log version {version!r} is newer than this Layerwise reads ({RUN_LOG_VERSION}); update Layerwise",
            )


def _beginning_problem(data: bytes) -> str | None:
    """Why ``data``, the start of a file's first line, cannot begin a run log; ``None`` when it can."""
    start = data.lstrip(b"\xef\xbb\xbf \t\r")
    if start and not start.startswith(b"{"):
        return "it does not start with a JSON object (a TrainingStarted event)"
    if len(data) > MAX_LINE_BYTES:
        return f"its first line is longer than {MAX_LINE_BYTES:,} bytes"
    return None


def _whole_object(data: bytes) -> bool:
    """Whether ``data`` is one whole JSON object (a proper prefix of an object never is)."""
    stripped = data.strip()
    if not stripped.endswith(b"}"):
        return False
    try:
        return isinstance(json.loads(stripped.decode("utf-8")), dict)
    except (UnicodeDecodeError, ValueError):
        return False


def _json_problem(exc: Exception) -> str:
    if isinstance(exc, json.JSONDecodeError):
        return f"{exc.msg} at column {exc.colno}"
    return "not UTF-8 text" if isinstance(exc, UnicodeDecodeError) else str(exc)


def read_run_log(path: str | os.PathLike[str]) -> list[TrainingEvent]:
    """Every event of the run log at ``path`` (see :meth:`RunLogReader.read_all`)."""
    return RunLogReader(path).read_all()
