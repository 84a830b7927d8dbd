"""Following a run log that another process writes: its events go into a run on the plots.

A timer polls a :class:`~core.training.run_log.RunLogReader` a few times a second; the
reader returns only complete new lines, so a log that grows line by line, in bursts,
or is cut short and started again reads the same way. Following ends at the run's
``TrainingFinished`` event, at a malformed line, or when the run is removed.
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path

from PySide6.QtCore import QObject, QTimer, Signal

from core.training.history import RunHistory
from core.training.run_log import LogUpdate, RunLogError, RunLogReader

POLL_INTERVAL_MS = 250
"""How often a followed log is looked at for new lines."""
POLL_BYTES = 4 * 1024 * 1024
"""At most this much of a log is read per poll, so that a long log opens without freezing the window."""


class FollowState(Enum):
    """Where following a log stands; the value is what the run list shows beside the run."""

    WAITING = "waiting for the log"
    FOLLOWING = "following"
    FINISHED = "finished"
    STOPPED = "not followed"
    FAILED = "stopped at a bad line"


class RunLogFollower(QObject):
    """Feeds the events of the log at ``path`` into ``run`` as they are written.

    Signals
    -------
    updated(bool)
        New events were added to the run; ``True`` when the log started over and the
        run was emptied first.
    state_changed()
        :attr:`state` changed (the run list shows it).
    message(str, bool)
        Something to tell the user (the text, and whether it is an error).
    """

    updated = Signal(bool)
    state_changed = Signal()
    message = Signal(str, bool)

    def __init__(self, path: str | Path, run: RunHistory, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.reader = RunLogReader(path)
        self.run = run
        self.state = FollowState.WAITING
        self.error: RunLogError | None = None
        self._named = False
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self.poll)

    @property
    def path(self) -> Path:
        return self.reader.path

    @property
    def following(self) -> bool:
        return self.state in (FollowState.WAITING, FollowState.FOLLOWING)

    def start(self) -> LogUpdate:
        """Read what the log holds now and follow it; the first update, which may be a refusal.

        Raises
        ------
        RunLogError
            When the file cannot be read at all.
        """
        update = self.reader.poll(POLL_BYTES)
        self._take(update)
        return update

    def stop(self) -> None:
        """Stop following (the run keeps what was read)."""
        self._timer.stop()
        if self.following:
            self._set_state(FollowState.STOPPED)

    def poll(self) -> None:
        """Read the lines added since the last poll into the run."""
        try:
            update = self.reader.poll(POLL_BYTES)
        except RunLogError as exc:
            self.error = exc
            self._timer.stop()
            self._set_state(FollowState.FAILED)
            self.message.emit(str(exc), True)
            return
        self._take(update)

    @property
    def status(self) -> str:
        """A few words for the run list: "following", "finished", "stopped at line 12", …"""
        if self.state is FollowState.FAILED and self.error is not None and self.error.line is not None:
            return f"stopped at line {self.error.line}"
        return self.state.value

    def describe(self) -> str:
        """A sentence on the run's source and state, for a tooltip."""
        text = f"Read from {self.path} — {self.status}"
        finished = self.run.finished
        if self.state is FollowState.FINISHED and finished is not None:
            text += f": {finished.message}"
        elif self.error is not None:
            text += f": {self.error}"
        return text

    def _take(self, update: LogUpdate) -> None:
        run = self.run
        if update.restarted:
            run.clear()
            self.error = None
        if self.reader.header is not None and (update.restarted or not self._named):
            run.name, self._named = self.reader.label, True
        for event in update.events:
            run.add(event)
        if update.events or update.restarted:
            self.updated.emit(update.restarted)
        if update.error is not None:
            self.error = update.error
            self._set_state(FollowState.FAILED)
            self.message.emit(f"Stopped following {self.reader.label}: {update.error}", True)
            return
        if self.reader.finished is not None:
            self._set_state(FollowState.FINISHED)
            finished = self.reader.finished
            self.message.emit(f"{self.reader.label} finished, no longer followed: {finished.message}.", False)
            return
        self._set_state(FollowState.FOLLOWING if self.reader.header is not None else FollowState.WAITING)
        self._timer.start(0 if update.more else POLL_INTERVAL_MS)

    def _set_state(self, state: FollowState) -> None:
        if state is not self.state:
            self.state = state
            self.state_changed.emit()
