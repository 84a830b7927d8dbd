"""Autosave of every window to a recovery file, and finding what a dead app left behind.

Each window writes ``recovery/<id>.lwrecovery`` in the user's data directory every
30 seconds when something changed, and after each training run, as long as it holds
anything its files do not (unsaved edits, unsaved weights, training runs). Beside it
a :class:`QLockFile` says that a running app owns the file; after a crash or a kill
the lock is stale, so the next start finds the file and offers to restore it. A
window that closes normally deletes its file.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QLockFile, QObject, QTimer

from core.errors import LayerwiseError
from core.recovery import RECOVERY_SUFFIX, RecoverySnapshot, read_snapshot, write_snapshot

log = logging.getLogger(__name__)

AUTOSAVE_SECONDS = 30.0
AUTOSAVE_VARIABLE = "LAYERWISE_AUTOSAVE_SECONDS"
"""Overrides the interval (tests and benchmarks use a short one)."""


def autosave_interval() -> float:
    try:
        return max(0.05, float(os.environ.get(AUTOSAVE_VARIABLE, AUTOSAVE_SECONDS)))
    except ValueError:
        return AUTOSAVE_SECONDS


def recovery_dir(data_dir: Path) -> Path:
    path = data_dir / "recovery"
    path.mkdir(parents=True, exist_ok=True)
    return path


@dataclass
class Orphan:
    """A recovery file whose app is gone, and what it holds (or why it cannot be read)."""

    path: Path
    snapshot: RecoverySnapshot | None
    problem: str | None

    def discard(self) -> None:
        for file in (self.path, self.path.with_suffix(".lock")):
            with contextlib.suppress(FileNotFoundError):
                file.unlink()


def find_orphans(data_dir: Path) -> list[Orphan]:
    """Recovery files left by apps that did not close normally, newest first."""
    found = []
    for path in sorted(
        recovery_dir(data_dir).glob(f"*{RECOVERY_SUFFIX}"), key=lambda p: p.stat().st_mtime, reverse=True
    ):
        lock = QLockFile(str(path.with_suffix(".lock")))
        lock.setStaleLockTime(0)  # stale only when the owner's process is gone, whatever its age
        if not lock.tryLock(0):
            continue  # a running app owns it
        lock.unlock()
        try:
            found.append(Orphan(path, read_snapshot(path), None))
        except LayerwiseError as exc:
            found.append(Orphan(path, None, str(exc)))
    return found


class Autosaver(QObject):
    """Keeps one window's recovery file up to date.

    Parameters
    ----------
    data_dir
        The user's data directory.
    snapshot
        Returns what to save now, or ``None`` when the window holds nothing its files
        do not (the recovery file is then removed).
    state
        Returns a value that changes whenever the window's content does; an unchanged
        value skips the write.
    """

    def __init__(
        self,
        data_dir: Path,
        snapshot: Callable[[], RecoverySnapshot | None],
        state: Callable[[], object],
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.path = recovery_dir(data_dir) / f"{uuid.uuid4().hex}{RECOVERY_SUFFIX}"
        self._lock = QLockFile(str(self.path.with_suffix(".lock")))
        self._lock.setStaleLockTime(0)  # never stale by age: only when our process is gone
        self._lock.tryLock(0)
        self._snapshot, self._state = snapshot, state
        self._last_state: object = None
        self.saves = 0
        self.last_error: str | None = None
        self.timer = QTimer(self)
        self.timer.setInterval(int(autosave_interval() * 1000))
        self.timer.timeout.connect(self.save_if_changed)
        self.timer.start()

    def save_if_changed(self) -> bool:
        state = self._state()
        if state == self._last_state:
            return False
        return self.save_now(state)

    def save_now(self, state: object = None) -> bool:
        """Write the snapshot now (or remove the file when there is nothing to keep)."""
        state = self._state() if state is None else state
        snapshot = self._snapshot()
        try:
            if snapshot is None:
                self._remove_file()
            else:
                snapshot.saved_at = time.time()
                write_snapshot(self.path, snapshot)
                self.saves += 1
        except LayerwiseError as exc:
            # Autosave must never interrupt work: note it and try again next time.
            self.last_error = str(exc)
            log.warning("autosave failed: %s", exc)
            return False
        self._last_state = state
        self.last_error = None
        return True

    def _remove_file(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    def close(self) -> None:
        """The window closed normally: nothing to recover."""
        self.timer.stop()
        self._remove_file()
        self._lock.unlock()
